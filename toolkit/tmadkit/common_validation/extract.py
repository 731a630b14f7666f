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


def _text(el) -> str:
    t = el.text
    return t.strip() if t else ""


# Dispatch on the full (namespaced) tag: no slicing of each element's name, and an element of
# another namespace is not mistaken for the MCF's.
_TEXT_FIELD = {_M + "DeviceID": "device_id", _M + "ImportMPAN": "mpan", _M + "MPRN": "mprn",
               _M + "ESMEVariant": "variant"}
_DETAIL_FIELD = {_M + k: v for k, v in DETAIL_FIELD.items()}
_SLOT = {_M + k: v for k, v in SLOT_OF_ELEMENT.items()}
_KIND = {_M + k: v for k, v in KIND_OF_DETAIL.items()}
_DEVICE_DETAIL = _M + "DeviceDetail"
_ISSUER = _DS + "X509IssuerName"
_SERIAL = _DS + "X509SerialNumber"


def _certificate(el) -> dict:
    """<X509IssuerSerial><ds:X509IssuerName/><ds:X509SerialNumber/></X509IssuerSerial> -> {issuer, serial}."""
    out = {"issuer": "", "serial": ""}
    for iss in el:
        for part in iss:
            tag = part.tag
            if tag == _ISSUER:
                out["issuer"] = _text(part)
            elif tag == _SERIAL:
                out["serial"] = _text(part)
    return out


def device(detail) -> dict:
    dev: dict = {}
    certs: dict = {}
    for child in detail:
        tag = child.tag          # a comment's or PI's tag is a function: no field, no slot
        name = _TEXT_FIELD.get(tag)
        if name is not None:
            dev[name] = _text(child)
        elif tag == _DEVICE_DETAIL:
            for d in child:
                name = _DETAIL_FIELD.get(d.tag)
                if name is not None:
                    dev[name] = _text(d)
        else:
            slot = _SLOT.get(tag)
            if slot is not None:
                certs[slot] = _certificate(child)
    if certs:
        dev["certificates"] = certs
    return dev


def installation(el) -> dict:
    """One SMETS1Installation of an MCF as {chf: {...}, gpf: {...}, ...}."""
    out: dict = {}
    for detail in el:
        kind = _KIND.get(detail.tag)
        if kind is not None:
            out[kind] = device(detail)
    return out


# The facts that identify a Device or its supply point rather than describe it.
IDENTIFIERS = frozenset({"device_id", "mpan", "mprn"})


def _frozen(value):
    # Type-tagged and flat, so that values that differ as facts never freeze alike ("1" and 1,
    # {} and []), and built with appends: this runs for every installation of a large file.
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
    """The installation without its identifiers, as a hashable value: two installations of
    equal shape differ at most in DeviceIDs, MPANs and MPRNs.  None for anything but a dict
    (the caller then remembers nothing for it)."""
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


def stream(source, *, file: str | None = None) -> Iterator[tuple[str | None, dict]]:
    """(GroupID, installation facts) for each SMETS1Installation of an MCF's bytes (or a binary
    reader of them), in file order, without building the whole tree
    (tmadkit.xml.safe.stream_children).  Nothing for a file that is not an MCF; XMLInputError
    where the bytes stop being well-formed."""
    group_id: str | None = None
    first = True
    for el in safe.stream_children(source, MCF_ROOT, INSTALLATION, file=file):
        if first:   # the header precedes the first installation and is freed after it
            group_id, first = group_id_of(el.getparent()), False
        yield group_id, installation(el)
