"""An MCF's SMETS1Installation element -> the installation facts the Table 5.10 checks read.

The shape is documented in tmadkit/runtime/common_validation.py.  Extraction is a single pass
over each installation's children with no XPath (it runs 100,000 times for a large file), and
it never raises: a part the schema allows to be missing is simply absent from the facts, and
the check that needs it fails and says so.
"""
from __future__ import annotations

from typing import Iterator

from lxml import etree

from ..xml import safe
from ..xml.schema import DS_NAMESPACE, NAMESPACE

_M = "{" + NAMESPACE + "}"
_DS = "{" + DS_NAMESPACE + "}"

KIND_OF_DETAIL = {"CHFDetail": "chf", "GPFDetail": "gpf", "ESMEDetail": "esme", "GSMEDetail": "gsme",
                  "PPMIDDetail": "ppmid", "IHDDetail": "ihd", "CADDetail": "cad"}
SLOT_OF_ELEMENT = {"CriticalNetworkOperatorCertificateID": "critical_network_operator",
                   "NonCriticalNetworkOperatorCertificateID": "non_critical_network_operator",
                   "CriticalSupplierCertificateID": "critical_supplier",
                   "NonCriticalSupplierCertificateID": "non_critical_supplier"}
DETAIL_FIELD = {"FirmwareVersion": "firmware_version", "DeviceModel": "model",
                "DeviceManufacturer": "manufacturer", "DeviceType": "device_type"}
INSTALLATION = _M + "SMETS1Installation"
MCF_ROOT = _M + "MigrationCommon"
GROUP_ID = _M + "GroupID"


# Dispatch on the full (namespaced) tag: no slicing of each element's name, and an element of
# another namespace is not mistaken for the MCF's.
_DEVICE, _FIELD, _IDENTIFIER, _SLOT, _PART = range(5)      # what an element of the installation is
_ACTION: dict[str, tuple[int, str, int]] = {}               # tag -> (what, facts key, event code)
for _what, _names in ((_DEVICE, KIND_OF_DETAIL), (_SLOT, SLOT_OF_ELEMENT), (_FIELD, DETAIL_FIELD),
                      (_FIELD, {"ESMEVariant": "variant"}),
                      (_IDENTIFIER, {"DeviceID": "device_id", "ImportMPAN": "mpan", "MPRN": "mprn"})):
    for _local, _key in _names.items():
        _ACTION[_M + _local] = (_what, _key, len(_ACTION))
_ACTION[_DS + "X509IssuerName"] = (_PART, "issuer", len(_ACTION))
_ACTION[_DS + "X509SerialNumber"] = (_PART, "serial", len(_ACTION))
_TAGS = tuple(_ACTION)

# The facts that identify a Device or its supply point rather than describe it.
IDENTIFIERS = frozenset({"device_id", "mpan", "mprn"})


def keyed(el) -> tuple[dict, tuple]:
    """One SMETS1Installation of an MCF as facts ({chf: {...}, gpf: {...}, ...}) and the key of
    its shape: what the facts hold but for their identifiers (DeviceIDs, MPANs, MPRNs), as the
    sequence of (event code, text) read from everything else.  Equal keys mean facts that
    differ at most in identifiers; the converse need not hold (the key only saves work).

    One flat pass in document order (lxml's C iterator, filtered by tag), not a walk level by
    level: the MCF schema puts each of these names at one depth only, so for a file the
    schema accepts the flat pass reads what a walk would, at two thirds of the cost (it runs
    for every installation of a large file).  A file the schema rejects may give other facts,
    but nobody reads them (speculative.py); they never raise."""
    out: dict = {}
    key: list = []
    add = key.append
    dev = cert = None
    action = _ACTION.get
    for x in el.iter(_TAGS):
        what, name, code = action(x.tag)
        if what == _DEVICE:
            dev, cert = {}, None
            out[name] = dev
            add(code)
            add(None)
        elif dev is None:
            continue                   # not inside a Device's detail
        elif what == _SLOT:
            cert = {"issuer": "", "serial": ""}
            certs = dev.get("certificates")
            if certs is None:
                certs = dev["certificates"] = {}
            certs[name] = cert
            add(code)
            add(None)
        else:
            t = x.text
            t = t.strip() if t else ""
            if what == _PART:
                if cert is None:
                    continue           # an issuer or serial outside a certificate ID
                cert[name] = t
            else:
                dev[name] = t
                if what == _IDENTIFIER:
                    continue
            add(code)
            add(t)
    return out, tuple(key)


def installation(el) -> dict:
    """One SMETS1Installation of an MCF as {chf: {...}, gpf: {...}, ...} (keyed() says how)."""
    return keyed(el)[0]


def _frozen(value):
    # Type-tagged and flat, so that values that differ as facts never freeze alike ("1" and 1,
    # {} and []), and built with appends.
    t = type(value)
    if t is str:
        return value
    if t is dict:
        out = ["{}"]
        for k, v in value.items():
            out.append(k if type(k) is str else _frozen(k))
            out.append(v if type(v) is str else _frozen(v))
        return tuple(out)
    if t is list:
        return ("[]", *map(_frozen, value))
    return (t.__name__, repr(value))


def shape(facts: dict) -> tuple | None:
    """The key of installation facts that were not read from an MCF (keyed() gives that of
    those that were): the installation without its identifiers, as a hashable value.  It
    holds no int where keyed()'s keys hold one at every even place, so the two never meet but
    for the empty installation, which both describe alike.  None for anything but a dict (the
    caller then remembers nothing for it)."""
    if type(facts) is not dict:
        return None
    out: list = []
    for kind, dev in facts.items():
        out.append(kind if type(kind) is str else _frozen(kind))
        if type(dev) is dict:     # its items, identifiers left out, then None (no frozen value is None)
            for k, v in dev.items():
                if k not in IDENTIFIERS:
                    out.append(k if type(k) is str else _frozen(k))
                    out.append(v if type(v) is str else _frozen(v))
        else:
            out.append(("!", _frozen(dev)))
        out.append(None)
    return tuple(out)


def chf_of(facts: dict) -> str:
    return (facts.get("chf") or {}).get("device_id", "")


def installations(root: etree._Element) -> Iterator[etree._Element]:
    """The SMETS1Installation elements of a parsed MCF, in file order."""
    return root.iterchildren(INSTALLATION)


def group_id_of(root: etree._Element) -> str | None:
    """The MCF's GroupID (a child of the root, before the installations)."""
    for child in root:
        if child.tag == GROUP_ID:
            return (child.text or "").strip()
    return None


def stream(source, *, file: str | None = None) -> Iterator[tuple[str | None, tuple[dict, tuple]]]:
    """(GroupID, keyed(installation)) for each SMETS1Installation of an MCF's bytes (or a binary
    reader of them), in file order, without building the whole tree
    (tmadkit.xml.safe.stream_children).  Nothing for a file that is not an MCF; XMLInputError
    where the bytes stop being well-formed."""
    group_id: str | None = None
    first = True
    for el in safe.stream_children(source, MCF_ROOT, INSTALLATION, file=file):
        if first:   # the header precedes the first installation and is freed after it
            group_id, first = group_id_of(el.getparent()), False
        yield group_id, keyed(el)
