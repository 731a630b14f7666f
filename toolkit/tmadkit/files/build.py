"""Build signed SMETS1 migration files (TMAD Clause 10, Tables 10.1 and 10.2) from a short spec.

Test teams need valid files (and, through :mod:`tmadkit.files.tamper`, invalid ones) for
their own systems.  :func:`build` turns a few lines of YAML into a file that is valid
against ``spec/schemas/smets1-migration.xsd`` (signed profile), signed in the TMAD
profile with a key of a test PKI (``tmadkit pki init``), and named as Table 10.2 says.
The name is computed from the ``file_name`` predicate of the rule in
``rules/tmad/table-10.2.yaml``, never from a copy of the naming logic here.

Spec format
===========
Keys (unknown keys, and keys another file type uses, are refused):

``type``                    MCF, MGF, MEF, MVF, SCF or COF (required).
``signer``                  PKI entry name.  Default: the first valid entry with the Remote
                            Party Role Table 5.5 requires for the type
                            (``smki.roles.SIGNING_ROLE_FOR``).
``name``                    ``auto`` (default: Table 10.2) or an explicit file name (for
                            negative tests); a plain name, no directories.
``seed``                    integer or string (default 0).  Everything generated derives
                            from it: the same seed gives the same installations (the same
                            CHF DeviceIDs) in all six file types, so an MCF and its MGF,
                            MEF, MVF, SCF and COF describe the same installations.
``requesting_party``        RequestingPartyID.  Default: MCF/MGF/MEF the signer's Entity
                            Identifier; MVF/SCF/COF the PKI's Requesting Party's.
``MCFCounter``              default 1.
``MGFCounter`` ... ``COFCounter``  the file's own counter (MGF, MEF, MVF, SCF, COF), default 1.
``group_id``                two capitals.  MCF/MGF/MEF default ``AA``; MVF/SCF/COF omitted
                            unless given.  MGF: CA/CB add IPAddr, DNSServer, PingServer.
                            MEF: ``DA`` gives SUAKeyDetails, any other group
                            EncryptedS1SPGroupInformation + MasterKeyInformation.
``to_be_commissioned_by_dcc``  MCF only, boolean, default true.
``supplier_signifier``      SCF, COF (the Supplier Signifier of the SCF's name): default
                            ``TEST``, a placeholder, as no PKI value gives it.  MCF: the file
                            as the DCC renames it for the Registered Supplier (rule
                            TMAD-T10.2-MCF-supplier); absent means the Requesting Party's
                            name.  Letters and digits.
``reporting_party``         MVF, SCF, COF; default the signer's Entity Identifier (Table 10.1
                            ReportingPartyID).  COF: ``null`` omits it (it is optional).
``s1sp``                    SCF S1SPID; default the signer's Entity Identifier.
``commissioning_party``     COF CommissioningPartyID; default the signer's Entity Identifier.
``certificates``            defaults for the Certificate IDs in GPF/ESME/GSME details:
                            ``{critical_network_operator, non_critical_network_operator,
                            critical_supplier, non_critical_supplier}`` -> PKI entry name, or
                            ``NULL`` / ``null`` for the Null Certificate ID.  Defaults:
                            network-operator-ds, network-operator-ka, supplier-ds, supplier-ka
                            (Critical = digitalSignature, Non-Critical = keyAgreement, TMAD
                            Clause 2).  A GPF in an installation without a GSME gets the Null
                            Certificate ID in all four (Table 10.1 GPFDetail).
``installations``           an integer (default 1): that many generated installations; or a
                            list whose items are ``null`` (generated) or a mapping that
                            overrides parts of the generated installation at that position:

    chf, gpf, esme:         mapping of overrides
    gsme, ppmid, ihd, cad:  true (present), false (absent) or a mapping of overrides;
                            absent key: present or not as the seed decides
    device overrides:       device_id, firmware_version (null omits it), model,
                            manufacturer, serial_number, certificates (GPF/ESME/GSME),
                            mpan (ESME, 13 digits), variant (ESME; null omits),
                            mprn (GSME, 1-10 digits)
    certificates:           as above, for this installation's devices
    comms:                  MGF CHFDetail: imsi, ip_addr, dns_server, ping_server,
                            previous_apn (null omits)
    failed_checks:          MVF/SCF/COF: list of {step: "5.10.4", supporting_data: ...};
                            supporting_data is text, {device_id: EUI-64},
                            {certificate: ENTRY|NULL}, {certificate_pair: [ENTRY, ENTRY]} or a
                            list of those (mixed content).  Quote step numbers in YAML.
    prepay:                 SCF: sets the PrepayFlag attribute (true/false)

Keys a file type has no element for (``comms`` in an MCF, ``failed_checks`` in an MEF)
are accepted and unused, so one installation list can describe the same installations
in every file type.  Generated DeviceIDs are ``00-DB-12-<4-byte installation number>-<role>``
(role A0 CHF, A1 GPF, A2 ESME, A3 GSME, B0 PPMID, C0 IHD, D0 CAD) and unique per file;
MPANs carry a valid check digit.  MEF ciphertexts, tags and wrapped keys are
deterministic filler of the right length (no S1SP key exists to encrypt to); the DA
PublicKey is a real P-256 point.

Examples, one per file type::

    type: MCF                         # MCF_<RequestingPartyID>_<MCFCounter>_0.xml
    MCFCounter: 41
    group_id: DA
    installations: 3

    type: MGF                         # MGF_<RequestingPartyID>_41_6.xml
    MCFCounter: 41
    MGFCounter: 6
    group_id: CA
    installations: 3

    type: MEF                         # MEF_<RequestingPartyID>_41_7.xml
    MCFCounter: 41
    MEFCounter: 7
    group_id: DA                      # SUAKeyDetails; AA etc.: encrypted group information
    installations:
      - {gsme: true}
      - {gsme: false, ppmid: true}

    type: MVF                         # MVF_<ReportingPartyID>_41_5.xml, signed by the S1SP
    MCFCounter: 41
    MVFCounter: 5
    installations:
      - null                          # passed every check
      - failed_checks:
          - {step: "5.10.4", supporting_data: {device_id: 00-DB-12-00-00-00-01-A2}}

    type: SCF                         # SCF_EDFE_<ReportingPartyID>_41_12.xml (S1SP-signed)
    supplier_signifier: EDFE
    MCFCounter: 41
    SCFCounter: 12
    installations:
      - {prepay: true}
      - failed_checks: [{step: "12.9.1.ET05", supporting_data: "3"}]

    type: COF                         # COF_EDFE_<ReportingPartyID>_41_9.xml
    supplier_signifier: EDFE          # from the name of the SCF this COF answers
    MCFCounter: 41
    COFCounter: 9
    installations: 2

Determinism: the same spec and the same PKI give the same XML before signing
(``BuiltFile.unsigned``); ECDSA signatures are randomised, so ``content`` differs.
"""
from __future__ import annotations

import base64
import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from .. import rules
from ..codegen import applicability_preds
from ..errors import InputError
from ..runtime import primitives
from ..runtime.facts import MISSING, get
from ..smki import roles
from ..smki.pki import Entry, Pki
from ..xml import schema, signature
from ..xml.schema import DS_NAMESPACE, NAMESPACE

FILE_TYPES = ("MCF", "MGF", "MEF", "MVF", "SCF", "COF")

# Table 5.5 names the objects in words; SIGNING_ROLE_FOR is keyed by those words.
TMAD_NAMES = {
    "MCF": "Migration Common File",
    "MGF": "Migration Group File",
    "MEF": "Migration Group Encrypted File",
    "MVF": "Migration Common Validation File",
    "SCF": "S1SP Commissioning File",
    "COF": "Commissioning Outcome File",
}
OWN_COUNTER = {"MGF": "MGFCounter", "MEF": "MEFCounter", "MVF": "MVFCounter",
               "SCF": "SCFCounter", "COF": "COFCounter"}

COMMON_KEYS = {"type", "signer", "name", "seed", "requesting_party", "MCFCounter", "group_id",
               "installations", "certificates"}
TYPE_KEYS = {
    "MCF": {"to_be_commissioned_by_dcc", "supplier_signifier"},
    "MGF": {"MGFCounter"},
    "MEF": {"MEFCounter"},
    "MVF": {"MVFCounter", "reporting_party"},
    "SCF": {"SCFCounter", "reporting_party", "s1sp", "supplier_signifier"},
    "COF": {"COFCounter", "reporting_party", "commissioning_party", "supplier_signifier"},
}

TABLE_10_2 = ("tmad", "table-10.2.yaml")

# Devices in 5.10.4 order (README D16), and how each appears in the MCF.
DEVICES = ("chf", "gpf", "esme", "gsme", "ppmid", "ihd", "cad")
OPTIONAL_DEVICES = ("gsme", "ppmid", "ihd", "cad")
DEVICE_TYPE = {d: d.upper() for d in DEVICES}
DETAIL_ELEMENT = {"chf": "CHFDetail", "gpf": "GPFDetail", "esme": "ESMEDetail", "gsme": "GSMEDetail",
                  "ppmid": "PPMIDDetail", "ihd": "IHDDetail", "cad": "CADDetail"}
ROLE_BYTE = {"chf": 0xA0, "gpf": 0xA1, "esme": 0xA2, "gsme": 0xA3, "ppmid": 0xB0, "ihd": 0xC0, "cad": 0xD0}
SERIAL_PREFIX = {"chf": "CH", "gpf": "GP", "esme": "EM", "gsme": "GS", "ppmid": "PP", "ihd": "IH", "cad": "CA"}
# How often the seed makes an optional device present: most homes are dual fuel with an IHD.
PRESENCE = {"gsme": 0.7, "ppmid": 0.2, "ihd": 0.8, "cad": 0.1}
OUI = (0x00, 0xDB, 0x12)

# Certificate ID slots, in Table 10.1 order; which devices carry which (README D18).
NO_SLOTS = ("critical_network_operator", "non_critical_network_operator")
SUPPLIER_SLOTS = ("critical_supplier", "non_critical_supplier")
SLOTS = NO_SLOTS + SUPPLIER_SLOTS
SLOT_ELEMENT = {"critical_network_operator": "CriticalNetworkOperatorCertificateID",
                "non_critical_network_operator": "NonCriticalNetworkOperatorCertificateID",
                "critical_supplier": "CriticalSupplierCertificateID",
                "non_critical_supplier": "NonCriticalSupplierCertificateID"}
DEVICE_SLOTS = {"gpf": SLOTS, "esme": SLOTS, "gsme": SUPPLIER_SLOTS}
# Critical = digitalSignature, Non-Critical = keyAgreement (TMAD Clause 2 definitions).
DEFAULT_CERTIFICATES = {"critical_network_operator": "network-operator-ds",
                        "non_critical_network_operator": "network-operator-ka",
                        "critical_supplier": "supplier-ds",
                        "non_critical_supplier": "supplier-ka"}
NULL = "NULL"
# SCF and COF names carry a Supplier Signifier (Table 10.2); nothing in a test PKI says what
# it is, so an obvious placeholder stands in unless the spec gives one.
DEFAULT_SUPPLIER_SIGNIFIER = "TEST"

MANUFACTURERS = (("SecureMeters", "Liberty100"), ("Landis+Gyr", "E470"), ("EDMI", "Atlas Mk7A"),
                 ("Elster", "AS302P"), ("Aclara", "SGM1412"))
HOME_DISPLAYS = (("Chameleon", "IHD3-CAD"), ("Hildebrand", "Glow IHD"), ("geo", "Trio II"))

MPAN_PRIMES = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
MAX_INSTALLATIONS = 1_000_000
MAX_COUNTER = 2 ** 64 - 1          # xs:unsignedLong (README D14)

_EUI64 = re.compile(r"[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){7}")
_GROUP = re.compile(r"[A-Z]{2}")
_SIGNIFIER = re.compile(r"[A-Za-z0-9]+")
_STEP = re.compile(r"[0-9]{1,2}(\.[0-9A-Za-z]{1,10}){1,8}")   # StepNumber (README D29)
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class BuiltFile:
    name: str
    content: bytes          # signed, UTF-8, with XML declaration
    file_type: str
    signer: str             # PKI entry name
    unsigned: bytes = b""   # the same document before signing (deterministic)
    facts: dict = field(default_factory=dict)   # the Table 10.2 facts the name was built from
    naming_rule: str | None = None              # the rule whose file_name predicate named it


# --------------------------------------------------------------------------- spec reading

class _Reader:
    """Typed access to the spec; every error names the source file and the key path."""

    def __init__(self, source: str | None):
        self.source = source

    def fail(self, key: str, message: str):
        raise InputError(message, file=self.source, where=f"key {key}")

    def mapping(self, value: Any, key: str) -> Mapping:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a mapping, not {type(value).__name__}")
        return value

    def keys(self, value: Mapping, key: str, allowed: set[str], why: str = "") -> None:
        extra = sorted(str(k) for k in value if k not in allowed)
        if extra:
            where = f"{key}.{extra[0]}" if key else extra[0]
            self.fail(where, f"unknown key{why}; allowed: {', '.join(sorted(allowed))}")

    def text(self, value: Any, key: str, pattern: re.Pattern | None = None, *,
             max_len: int | None = None, min_len: int = 1, what: str = "") -> str:
        # Numbers are accepted where the value is digits (YAML reads 1200023305967 as int).
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(key, f"must be a string{what}, not {type(value).__name__} {value!r} "
                           "(quote it in YAML)")
        if len(value) < min_len or (max_len is not None and len(value) > max_len):
            size = f"{min_len}-{max_len}" if max_len is not None else f"at least {min_len}"
            self.fail(key, f"{value!r} must be {size} characters{what}")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(key, f"{value!r} is not {what.strip(' ()') or 'in the required form'}")
        return value

    def eui(self, value: Any, key: str) -> str:
        return self.text(value, key, _EUI64, what=" (an EUI-64 like 02-7D-00-00-00-00-01-01)").upper()

    def counter(self, value: Any, key: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNTER:
            self.fail(key, f"{value!r} must be an integer 0 ... 2^64-1 (xs:unsignedLong)")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"{value!r} must be true or false")
        return value


# --------------------------------------------------------------------------- the model

@dataclass
class _Device:
    kind: str
    device_id: str
    model: str
    manufacturer: str
    serial_number: str
    firmware_version: str | None
    mpan: str | None = None
    variant: str | None = None
    mprn: str | None = None
    certificates: dict[str, str | None] = field(default_factory=dict)   # slot -> entry / None


@dataclass
class _Installation:
    number: int
    devices: dict[str, _Device]
    rng_key: str
    comms: dict[str, str | None] = field(default_factory=dict)
    certificates: dict[str, str | None] = field(default_factory=dict)   # installation overrides
    failed_checks: list[tuple[str, list]] = field(default_factory=list)
    prepay: bool | None = None


def mpan_check_digit(first12: str) -> str:
    """The MPAN core check digit: sum of digit x prime, mod 11, mod 10 (MRA MPAN rules)."""
    return str(sum(int(d) * p for d, p in zip(first12, MPAN_PRIMES)) % 11 % 10)


def _filler(key: str, label: str, size: int) -> bytes:
    return hashlib.shake_256(f"tmadkit:{key}:{label}".encode()).digest(size)


def _base_number(seed: Any) -> int:
    return int.from_bytes(hashlib.sha256(f"tmadkit-installations:{seed!r}".encode()).digest()[:4], "big")


def _generated(seed: Any, index: int) -> _Installation:
    """Installation `index` for `seed`: depends on nothing else, so overriding one
    installation never changes another."""
    number = (_base_number(seed) + index) & 0xFFFFFFFF   # distinct for every index < 2^32
    key = f"{seed!r}:{index}"
    rng = random.Random(f"tmadkit:{key}")                 # str seeds are hashed stably (SHA-512)
    maker, model = MANUFACTURERS[rng.randrange(len(MANUFACTURERS))]
    present = {d: d not in OPTIONAL_DEVICES or rng.random() < PRESENCE[d] for d in DEVICES}
    devices = {}
    for kind in DEVICES:
        if not present[kind]:
            continue
        m, mo = HOME_DISPLAYS[rng.randrange(len(HOME_DISPLAYS))] if kind in ("ihd", "cad") else (maker, model)
        dev_id = "-".join(f"{b:02X}" for b in (*OUI, *number.to_bytes(4, "big"), ROLE_BYTE[kind]))
        dev = _Device(kind=kind, device_id=dev_id, model=f"{mo} {kind.upper()}"[:30], manufacturer=m,
                      serial_number=f"{SERIAL_PREFIX[kind]}{rng.randrange(10 ** 8):08d}",
                      firmware_version=f"{rng.randrange(1, 0x10):02X}{rng.randrange(0x100):02X}")
        if kind == "esme":
            first12 = f"{rng.randrange(10, 24):02d}{rng.randrange(10 ** 10):010d}"   # distributor 10-23
            dev.mpan, dev.variant = first12 + mpan_check_digit(first12), "A"
        if kind == "gsme":
            dev.mprn = str(rng.randrange(10 ** 9, 10 ** 10))
        devices[kind] = dev
    comms = {"imsi": f"23415{rng.randrange(10 ** 10):010d}", "previous_apn": "smso.s1.example",
             "ip_addr": f"10.{(number >> 16) & 0xFF}.{(number >> 8) & 0xFF}.{max(number & 0xFF, 1)}",
             "dns_server": "10.0.0.53", "ping_server": "10.0.0.1"}
    return _Installation(number=number, devices=devices, rng_key=key, comms=comms)


class _SpecParser:
    def __init__(self, spec: Mapping, pki: Pki, source: str | None, now: datetime | None):
        self.r = _Reader(source)
        self.spec = self.r.mapping(spec, "(top level)")
        self.pki, self.now = pki, now

    # -- PKI look-ups ------------------------------------------------------------

    def entry(self, name: Any, key: str) -> Entry:
        name = self.r.text(name, key)
        try:
            return self.pki.entry(name)
        except KeyError:
            known = ", ".join(e.name for e in self.pki.entries)
            self.r.fail(key, f"the test PKI in {self.pki.dir} has no entry {name!r}; it has: {known}")

    def usable(self, e: Entry) -> bool:
        if e.negative is not None:
            return False
        return self.now is None or (e.not_before <= self.now <= e.not_after)

    def default_signer(self, file_type: str) -> Entry:
        role = roles.SIGNING_ROLE_FOR[TMAD_NAMES[file_type]]
        for e in self.pki.entries:
            if e.role == role and self.usable(e):
                return e
        at = f" valid at {self.now.isoformat()}" if self.now else ""
        self.r.fail("signer", f"the test PKI in {self.pki.dir} has no certificate{at} with role "
                              f"{role} (Table 5.5 for {TMAD_NAMES[file_type]}); name a signer")

    def party_of_role(self, role: str, key: str) -> str:
        for e in self.pki.entries:
            if e.role == role and e.negative is None:
                return e.entity_id
        self.r.fail(key, f"the test PKI has no {role} certificate to take a default from; give {key}")

    def certificate(self, value: Any, key: str) -> str | None:
        if value is None or value == NULL:
            return None
        return self.entry(value, key).name

    def certificates(self, value: Any, key: str, base: dict) -> dict:
        m = self.r.mapping(value, key)
        self.r.keys(m, key, set(SLOTS))
        return {**base, **{s: self.certificate(v, f"{key}.{s}") for s, v in m.items()}}

    # -- the spec ----------------------------------------------------------------

    def parse(self) -> dict:
        s, r = self.spec, self.r
        if "type" not in s:
            r.fail("type", f"missing; one of {', '.join(FILE_TYPES)}")
        t = s["type"]
        if t not in FILE_TYPES:
            r.fail("type", f"{t!r} is not one of {', '.join(FILE_TYPES)}")
        allowed = COMMON_KEYS | TYPE_KEYS[t]
        for k in s:
            if k not in allowed:
                users = [ft for ft in FILE_TYPES if k in TYPE_KEYS[ft]]
                why = f" for {t} (used by {', '.join(users)})" if users else ""
                r.fail(str(k), f"unknown key{why}; allowed for {t}: {', '.join(sorted(allowed))}")

        out: dict[str, Any] = {"type": t}
        signer = self.entry(s["signer"], "signer") if "signer" in s else self.default_signer(t)
        out["signer"] = signer
        seed = s.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, (int, str)):
            r.fail("seed", f"{seed!r} must be an integer or a string")
        out["seed"] = seed

        name = s.get("name", "auto")
        name = r.text(name, "name")
        if name != "auto" and (name in (".", "..") or any(c in name for c in "/\\\x00")):
            r.fail("name", f"{name!r} must be a plain file name (no directories)")
        out["name"] = name

        rp_role = roles.REQUESTING_PARTY_FILE_SIGNING
        if "requesting_party" in s:
            out["requesting_party"] = r.eui(s["requesting_party"], "requesting_party")
        elif t in ("MCF", "MGF", "MEF"):
            out["requesting_party"] = signer.entity_id
        else:
            out["requesting_party"] = self.party_of_role(rp_role, "requesting_party")
        out["MCFCounter"] = r.counter(s.get("MCFCounter", 1), "MCFCounter")
        if t in OWN_COUNTER:
            c = OWN_COUNTER[t]
            out[c] = r.counter(s.get(c, 1), c)

        if "group_id" in s:
            out["group_id"] = r.text(s["group_id"], "group_id", _GROUP, what=" (two capital letters)")
        else:
            out["group_id"] = "AA" if t in ("MCF", "MGF", "MEF") else None
        if t == "MCF":
            out["to_be_commissioned_by_dcc"] = r.boolean(s.get("to_be_commissioned_by_dcc", True),
                                                         "to_be_commissioned_by_dcc")
        signifier = s.get("supplier_signifier", DEFAULT_SUPPLIER_SIGNIFIER if t in ("SCF", "COF") else None)
        out["supplier_signifier"] = (None if signifier is None else
                                     r.text(signifier, "supplier_signifier", _SIGNIFIER,
                                            what=" (letters and digits)"))
        if t in ("MVF", "SCF", "COF"):
            rep = s.get("reporting_party", signer.entity_id)
            if rep is None and t != "COF":
                r.fail("reporting_party", f"ReportingPartyID is required in an {t}")
            out["reporting_party"] = None if rep is None else r.eui(rep, "reporting_party")
        if t == "SCF":
            out["s1sp"] = r.eui(s.get("s1sp", signer.entity_id), "s1sp")
        if t == "COF":
            out["commissioning_party"] = r.eui(s.get("commissioning_party", signer.entity_id),
                                               "commissioning_party")

        certs = dict(DEFAULT_CERTIFICATES)
        if "certificates" in s:
            certs = self.certificates(s["certificates"], "certificates", certs)
        out["certificates"] = certs
        out["installations"] = self.installations(s.get("installations", 1), seed, certs,
                                                  out["group_id"])
        return out

    # -- installations -------------------------------------------------------------

    def installations(self, value: Any, seed: Any, certs: dict,
                      group_id: str | None) -> list[_Installation]:
        r = self.r
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_INSTALLATIONS:
                r.fail("installations", f"{value} must be 1 ... {MAX_INSTALLATIONS}")
            items: list = [None] * value
        elif isinstance(value, list) and value:
            if len(value) > MAX_INSTALLATIONS:
                r.fail("installations", f"at most {MAX_INSTALLATIONS} installations")
            items = value
        else:
            r.fail("installations", "must be a positive integer or a non-empty list "
                                    "(each item null or a mapping)")
        out = []
        seen: dict[str, str] = {}
        for i, item in enumerate(items):
            key = f"installations[{i}]"
            inst = _generated(seed, i)
            if group_id not in ("CA", "CB"):
                # 14.7.1 asks CA/CB for IPAddr; other groups get the 12.6.1 set only.
                for name in ("ip_addr", "dns_server", "ping_server"):
                    inst.comms.pop(name)
            if item is not None:
                self.override(inst, r.mapping(item, key), key)
            self.assign_certificates(inst, certs)
            for kind, dev in inst.devices.items():
                where = f"{key}.{kind}.device_id"
                if dev.device_id in seen:
                    r.fail(where, f"DeviceID {dev.device_id} is already used at {seen[dev.device_id]}; "
                                  "DeviceIDs are unique in a file")
                seen[dev.device_id] = where
            out.append(inst)
        self.check_referenced_certificates(out)
        return out

    INSTALLATION_KEYS = {*DEVICES, "certificates", "comms", "failed_checks", "prepay"}
    DEVICE_KEYS = {"device_id", "firmware_version", "model", "manufacturer", "serial_number"}
    EXTRA_DEVICE_KEYS = {"esme": {"mpan", "variant", "certificates"}, "gsme": {"mprn", "certificates"},
                         "gpf": {"certificates"}}
    COMMS_KEYS = ("imsi", "ip_addr", "dns_server", "ping_server", "previous_apn")

    def override(self, inst: _Installation, m: Mapping, key: str) -> None:
        r = self.r
        r.keys(m, key, self.INSTALLATION_KEYS)
        if "certificates" in m:
            inst.certificates = self.certificates(m["certificates"], f"{key}.certificates", {})
        for kind in DEVICES:
            if kind not in m:
                continue
            v, k = m[kind], f"{key}.{kind}"
            if kind in OPTIONAL_DEVICES and (v is False or v is None):
                inst.devices.pop(kind, None)
                continue
            if kind not in inst.devices:               # asked for but the seed left it out
                inst.devices[kind] = self.make_device(inst, kind)
            dev = inst.devices[kind]
            if v is True:
                continue
            if kind not in OPTIONAL_DEVICES and not isinstance(v, Mapping):
                r.fail(k, f"must be a mapping of overrides ({kind.upper()} is always present)")
            self.device(dev, r.mapping(v, k), k)
        if "comms" in m:
            c = r.mapping(m["comms"], f"{key}.comms")
            r.keys(c, f"{key}.comms", set(self.COMMS_KEYS))
            for name, v in c.items():
                inst.comms[name] = None if v is None else r.text(v, f"{key}.comms.{name}")
        if "failed_checks" in m:
            inst.failed_checks = self.failed_checks(m["failed_checks"], f"{key}.failed_checks")
        if "prepay" in m:
            inst.prepay = None if m["prepay"] is None else r.boolean(m["prepay"], f"{key}.prepay")

    def make_device(self, inst: _Installation, kind: str) -> _Device:
        # A device the seed did not place: built like the generated ones, from its own stream.
        rng = random.Random(f"tmadkit:{inst.rng_key}:{kind}")
        ref = inst.devices["esme"] if kind != "ihd" and kind != "cad" else None
        maker, model = (ref.manufacturer, ref.model.rsplit(" ", 1)[0]) if ref else \
            HOME_DISPLAYS[rng.randrange(len(HOME_DISPLAYS))]
        dev = _Device(kind=kind,
                      device_id="-".join(f"{b:02X}" for b in (*OUI, *inst.number.to_bytes(4, "big"),
                                                               ROLE_BYTE[kind])),
                      model=f"{model} {kind.upper()}"[:30], manufacturer=maker,
                      serial_number=f"{SERIAL_PREFIX[kind]}{rng.randrange(10 ** 8):08d}",
                      firmware_version=f"{rng.randrange(1, 0x10):02X}{rng.randrange(0x100):02X}")
        if kind == "gsme":
            dev.mprn = str(rng.randrange(10 ** 9, 10 ** 10))
        return dev

    def device(self, dev: _Device, m: Mapping, key: str) -> None:
        r = self.r
        r.keys(m, key, self.DEVICE_KEYS | self.EXTRA_DEVICE_KEYS.get(dev.kind, set()))
        if "device_id" in m:
            dev.device_id = r.eui(m["device_id"], f"{key}.device_id")
        if "firmware_version" in m:
            v = m["firmware_version"]
            dev.firmware_version = None if v is None else r.text(v, f"{key}.firmware_version", max_len=8)
        if "model" in m:
            dev.model = r.text(m["model"], f"{key}.model", max_len=30, min_len=0)
        if "manufacturer" in m:
            dev.manufacturer = r.text(m["manufacturer"], f"{key}.manufacturer", max_len=30, min_len=0)
        if "serial_number" in m:
            dev.serial_number = r.text(m["serial_number"], f"{key}.serial_number", min_len=0)
        if "mpan" in m:
            dev.mpan = r.text(m["mpan"], f"{key}.mpan", _DIGITS, min_len=13, max_len=13,
                              what=" (13 digits)")
        if "variant" in m:
            v = m["variant"]
            allowed = ("A", "B", "C", "AD", "BD", "CD", "ADE", "BDE", "CDE")
            if v is not None and v not in allowed:
                r.fail(f"{key}.variant", f"{v!r} is not an ESMEVariant ({', '.join(allowed)})")
            dev.variant = v
        if "mprn" in m:
            dev.mprn = r.text(m["mprn"], f"{key}.mprn", _DIGITS, max_len=10, what=" (1-10 digits)")
        if "certificates" in m:
            dev.certificates = self.certificates(m["certificates"], f"{key}.certificates",
                                                 dev.certificates)

    def failed_checks(self, value: Any, key: str) -> list[tuple[str, list]]:
        r = self.r
        if not isinstance(value, list):
            r.fail(key, "must be a list of {step, supporting_data}")
        out = []
        for j, fc in enumerate(value):
            k = f"{key}[{j}]"
            fc = r.mapping(fc, k)
            r.keys(fc, k, {"step", "supporting_data"})
            if "step" not in fc:
                r.fail(f"{k}.step", "missing (a FailedStepNumber such as \"5.10.4\")")
            raw = fc["step"]
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                r.fail(f"{k}.step", f"{raw!r} must be a quoted string: YAML reads 5.10 as the number 5.1")
            step = r.text(raw, f"{k}.step", _STEP, what=" (a step number like \"5.10.4\")")
            out.append((step, self.supporting_data(fc.get("supporting_data"), f"{k}.supporting_data")))
        return out

    def supporting_data(self, value: Any, key: str) -> list:
        """Mixed content items: str, ("device_id", EUI), ("certificate", entry|None),
        ("certificate_pair", (entry|None, entry|None))."""
        r = self.r
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        out: list = []
        for j, item in enumerate(items):
            k = f"{key}[{j}]" if isinstance(value, list) else key
            if isinstance(item, (str, int)) and not isinstance(item, bool):
                out.append(str(item))
                continue
            m = r.mapping(item, k)
            r.keys(m, k, {"device_id", "certificate", "certificate_pair"})
            if len(m) != 1:
                r.fail(k, "give exactly one of device_id, certificate, certificate_pair")
            (what, v), = m.items()
            if what == "device_id":
                out.append(("device_id", r.eui(v, f"{k}.device_id")))
            elif what == "certificate":
                out.append(("certificate", self.certificate(v, f"{k}.certificate")))
            else:
                if not isinstance(v, list) or len(v) != 2:
                    r.fail(f"{k}.certificate_pair", "must be a list of two entries, Critical first")
                out.append(("certificate_pair", tuple(self.certificate(x, f"{k}.certificate_pair[{n}]")
                                                      for n, x in enumerate(v))))
        return out

    def assign_certificates(self, inst: _Installation, certs: dict) -> None:
        has_gsme = "gsme" in inst.devices
        for kind, slots in DEVICE_SLOTS.items():
            dev = inst.devices.get(kind)
            if dev is None:
                continue
            # Table 10.1 GPFDetail: the Null Certificate ID where there is no GSME (unless
            # the GPF's own `certificates` say otherwise).
            if kind == "gpf" and not has_gsme:
                base = {s: None for s in slots}
            else:
                base = {s: inst.certificates.get(s, certs[s]) for s in slots}
            dev.certificates = {s: dev.certificates.get(s, base[s]) for s in slots}

    def check_referenced_certificates(self, installations: list[_Installation]) -> None:
        # Defaults are only checked when used: a PKI made for some parties can still build
        # files whose installations need none of the missing certificates.
        for i, inst in enumerate(installations):
            for kind, dev in inst.devices.items():
                for slot, name in dev.certificates.items():
                    if name is not None:
                        self.entry(name, f"installations[{i}].{kind}.certificates.{slot} "
                                         f"(default from certificates.{slot})")


# --------------------------------------------------------------------------- XML

def _q(local: str) -> str:
    return f"{{{NAMESPACE}}}{local}"


def _sub(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _q(local))
    if text is not None:
        el.text = text
    return el


class _Writer:
    def __init__(self, model: dict, pki: Pki):
        self.m, self.pki = model, pki

    def certificate_id(self, parent: etree._Element, local: str, entry: str | None) -> None:
        # Certificate ID = X509IssuerSerial {ds:X509IssuerName, ds:X509SerialNumber} (D19).
        if entry is None:
            issuer, serial = NULL, "0"
        else:
            cid = self.pki.entry(entry).cert_id
            issuer, serial = cid.issuer_string, str(cid.serial)
        iss = _sub(_sub(parent, local), "X509IssuerSerial")
        etree.SubElement(iss, f"{{{DS_NAMESPACE}}}X509IssuerName").text = issuer
        etree.SubElement(iss, f"{{{DS_NAMESPACE}}}X509SerialNumber").text = serial

    def root(self) -> etree._Element:
        m = self.m
        t = m["type"]
        root = etree.Element(schema.ROOT_ELEMENTS[t].text, nsmap={None: NAMESPACE, "ds": DS_NAMESPACE})
        _sub(root, "RequestingPartyID", m["requesting_party"])
        _sub(root, "MCFCounter", str(m["MCFCounter"]))
        if t == "MVF":
            _sub(root, "ReportingPartyID", m["reporting_party"])
        if t == "SCF":
            _sub(root, "S1SPID", m["s1sp"])
            _sub(root, "ReportingPartyID", m["reporting_party"])
        if t == "COF":
            _sub(root, "CommissioningPartyID", m["commissioning_party"])
            if m["reporting_party"] is not None:
                _sub(root, "ReportingPartyID", m["reporting_party"])
        if t in OWN_COUNTER:
            _sub(root, OWN_COUNTER[t], str(m[OWN_COUNTER[t]]))
        if m["group_id"] is not None:
            _sub(root, "GroupID", m["group_id"])
        if t == "MCF":
            _sub(root, "ToBeCommissionedByDCC", "true" if m["to_be_commissioned_by_dcc"] else "false")
        write = getattr(self, f"installation_{t.lower()}", self.installation_outcome)
        for inst in m["installations"]:
            write(_sub(root, "SMETS1Installation"), inst)
        return root

    # -- MCF ------------------------------------------------------------------------

    def installation_mcf(self, el: etree._Element, inst: _Installation) -> None:
        for kind in DEVICES:
            dev = inst.devices.get(kind)
            if dev is None:
                continue
            d = _sub(el, DETAIL_ELEMENT[kind])
            _sub(d, "DeviceID", dev.device_id)
            if kind != "gpf":      # the GPF's DeviceDetail is optional and unread (D21)
                dd = _sub(d, "DeviceDetail")
                if dev.firmware_version is not None:
                    _sub(dd, "FirmwareVersion", dev.firmware_version)
                _sub(dd, "DeviceModel", dev.model)
                _sub(dd, "DeviceManufacturer", dev.manufacturer)
                _sub(dd, "DeviceType", DEVICE_TYPE[kind])
            if kind == "esme":
                _sub(d, "ImportMPAN", dev.mpan)
                if dev.variant is not None:
                    _sub(d, "ESMEVariant", dev.variant)
            if kind == "gsme":
                _sub(d, "MPRN", dev.mprn)
            for slot in DEVICE_SLOTS.get(kind, ()):
                self.certificate_id(d, SLOT_ELEMENT[slot], dev.certificates[slot])

    # -- MGF ------------------------------------------------------------------------

    def installation_mgf(self, el: etree._Element, inst: _Installation) -> None:
        _sub(el, "CHFIdentifier", inst.devices["chf"].device_id)
        d = _sub(el, "CHFDetail")
        c = inst.comms
        # 12.6.1 (AA, BA): IMSI, PreviousAPN, SerialNumbers; 14.7.1 (CA, CB) adds IPAddr.
        for name, element in (("imsi", "IMSI"), ("ip_addr", "IPAddr"), ("dns_server", "DNSServer"),
                              ("ping_server", "PingServer"), ("previous_apn", "PreviousAPN")):
            if c.get(name) is not None:
                _sub(d, element, c[name])
        serials = _sub(d, "SerialNumbers")
        for kind in DEVICES:
            if kind in inst.devices:
                _sub(serials, kind.upper(), inst.devices[kind].serial_number)

    # -- MEF ------------------------------------------------------------------------

    def installation_mef(self, el: etree._Element, inst: _Installation) -> None:
        devs, key = inst.devices, inst.rng_key
        _sub(el, "CHFIdentifier", devs["chf"].device_id)
        if self.m["group_id"] == "DA":
            # 16.16: SUAKeyDetails only, one per ESME / GSME (Table 11.3B).
            for kind in ("esme", "gsme"):
                if kind not in devs:
                    continue
                s = _sub(el, "SUAKeyDetails")
                _sub(s, "EncryptedSUAKey", _b64(_filler(key, f"sua-{kind}", 48)))
                _sub(s, "DeviceType", DEVICE_TYPE[kind])
                _sub(s, "PublicKey", _b64(_public_point(key, kind)))
                _sub(s, "SerialNumber", devs[kind].serial_number)
            return
        # AA, BA, CA, CB (12.15, 13.16, 14.16): encrypted group information and master keys.
        g = _sub(el, "EncryptedS1SPGroupInformation")
        _sub(g, "ProtectedData", _b64(_filler(key, "protected-data", 96)))
        _sub(g, "AuthenticationTag", _b64(_filler(key, "tag", 16)))
        _sub(g, "WrappedTransportKey", _b64(_filler(key, "transport-key", 40)))
        mk = _sub(el, "MasterKeyInformation")
        emk = _sub(mk, "EncryptedMasterKey")
        _sub(emk, "EncryptedKey", _b64(_filler(key, "master-key", 40)))
        for kind in ("chf", "gpf", "esme"):
            _sub(emk, "DeviceID", devs[kind].device_id)
        if "ppmid" in devs:    # the PPMID's own Master Key (Table 10.1 EncryptedMasterKey)
            emk = _sub(mk, "EncryptedMasterKey")
            _sub(emk, "EncryptedKey", _b64(_filler(key, "master-key-ppmid", 40)))
            _sub(emk, "DeviceID", devs["ppmid"].device_id)

    # -- MVF, SCF, COF --------------------------------------------------------------

    def installation_outcome(self, el: etree._Element, inst: _Installation) -> None:
        if self.m["type"] == "SCF" and inst.prepay is not None:
            el.set("PrepayFlag", "true" if inst.prepay else "false")
        _sub(el, "CHFIdentifier", inst.devices["chf"].device_id)
        for step, data in inst.failed_checks:
            fc = _sub(el, "FailedCheck")
            _sub(fc, "FailedStepNumber", step)
            if data:
                self.supporting_data(_sub(fc, "SupportingData"), data)

    def supporting_data(self, sd: etree._Element, items: list) -> None:
        last: etree._Element | None = None
        for item in items:
            if isinstance(item, str):          # mixed content: text goes after the last child
                if last is None:
                    sd.text = (sd.text or "") + item
                else:
                    last.tail = (last.tail or "") + item
                continue
            what, v = item
            if what == "device_id":
                last = _sub(sd, "DeviceID", v)
            elif what == "certificate":
                self.certificate_id(sd, "CertificateID", v)
                last = sd[-1]
            else:
                pair = _sub(sd, "CertificatePair")
                for entry in v:
                    self.certificate_id(pair, "CertificateID", entry)
                last = pair


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _public_point(key: str, kind: str) -> bytes:
    """A real P-256 public key (65-byte uncompressed point) derived from the seed."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(_filler(key, f"sua-key-{kind}", 40), "big") % (order - 1) + 1
    pub = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


# --------------------------------------------------------------------------- naming

def _table_10_2() -> rules.RuleFile:
    want = "/".join(TABLE_10_2)
    return next(f for f in rules.tmad_rules().files if f.relpath.endswith(want))


def _chosen_readings() -> dict[str, str]:
    """The reading of each disputed question the Authenticator's procedure applies (its
    `readings:`): a file is named by that reading, not its rival."""
    from ..authentication.procedure import Procedure

    return Procedure.load("authenticate", rules.tmad_rules()).readings


def _holds(pred: Mapping, facts: Mapping) -> bool:
    """Evaluate a rule predicate with the runtime primitives (as the generated code does)."""
    (name, args), = pred.items()
    if name == "all":
        return all(_holds(p, facts) for p in args)
    if name == "any":
        return any(_holds(p, facts) for p in args)
    if name == "not":
        return not _holds(args, facts)
    fn = primitives.PRIMITIVES[name]
    return bool(fn(facts, **{primitives.ARG_ALIASES.get(k, k): v for k, v in args.items()}))


def _find(pred: Mapping, primitive: str) -> Mapping | None:
    return next((args for name, args in primitives.leaves(pred) if name == primitive), None)


def naming_facts(model: dict) -> dict:
    """The Table 10.2 facts of the file (rules/tmad/table-10.2.yaml header lists them)."""
    t = model["type"]
    header: dict[str, Any] = {"RequestingPartyID": model["requesting_party"],
                              "MCFCounter": model["MCFCounter"]}
    if t in OWN_COUNTER:
        header[OWN_COUNTER[t]] = model[OWN_COUNTER[t]]
    for key, element in (("reporting_party", "ReportingPartyID"), ("s1sp", "S1SPID"),
                         ("commissioning_party", "CommissioningPartyID")):
        if model.get(key) is not None:
            header[element] = model[key]
    facts: dict[str, Any] = {"file_type": t, "root_element": schema.ROOT_ELEMENTS[t].localname,
                             "header": header}
    sig = model.get("supplier_signifier")
    if sig is not None:
        if t == "MCF":
            facts["route"] = {"supplier_signifier": sig}
        elif t == "SCF":
            facts["supplier_signifier"] = sig
        elif t == "COF":
            facts["related"] = {"scf_supplier_signifier": sig}
    if model.get("group_id") is not None:
        facts["group_id"] = model["group_id"]
    return facts


def table_10_2_name(facts: Mapping, *, source: str | None = None) -> tuple[str, str]:
    """(file name, rule id): the name the applicable Table 10.2 rule requires."""
    rule_file = _table_10_2()
    chosen = _chosen_readings()
    applicable = [r for r in rule_file.rules
                  if r.testable and r.predicate is not None
                  and (not r.disputed or chosen.get(r.disputed["question"], r.id) == r.id)
                  and all(_holds(p, facts) for p in applicability_preds(r))]
    where = "name"
    if len(applicable) != 1:
        ids = ", ".join(r.id for r in applicable) or "none"
        raise InputError(f"{len(applicable)} naming rules of {rule_file.relpath} apply to this "
                         f"{facts.get('file_type')} ({ids}); give an explicit name",
                         file=source, where=f"key {where}")
    rule = applicable[0]
    args = _find(rule.predicate, "file_name")
    if args is None:
        raise InputError(f"rule {rule.id} has no file_name predicate", file=rule.file, line=rule.line)
    name = primitives.expected_name(facts, args["parts"], args.get("separator", "_"),
                                    args.get("extension", ".xml"))
    if name is None:
        missing = [p["fact"] for p in args["parts"] if "fact" in p and get(facts, p["fact"]) in (MISSING, None)]
        hint = {"supplier_signifier": "supplier_signifier",
                "related.scf_supplier_signifier": "supplier_signifier",
                "header.ReportingPartyID": "reporting_party"}
        keys = sorted({hint.get(f, f) for f in missing})
        raise InputError(f"rule {rule.id} builds the name from {', '.join(missing)}, which this spec "
                         f"does not give: set {', '.join(keys)} (or an explicit name)",
                         file=source, where=f"key {keys[0] if keys else where}")
    return name, rule.id


# --------------------------------------------------------------------------- build

def _indent(root: etree._Element) -> None:
    """Indent for people to read, except SupportingData's own mixed content, where
    indentation would become part of the text (A2 ET04: DeviceID then a name)."""
    etree.indent(root, space="  ")
    for sd in root.iter(_q("SupportingData")):
        if sd.text is not None and not sd.text.strip():
            sd.text = None
        for child in sd:
            if child.tail is not None and not child.tail.strip():
                child.tail = None


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build(spec: Mapping, pki: Pki, *, now: datetime | None = None,
          source: str | None = None) -> BuiltFile:
    """Build, sign and name one migration file (see the module docstring for `spec`).

    ``now``: when given, the default signer must be valid then (negative PKI entries are
    never chosen by default; name one as ``signer`` to sign with it).  ``source`` names
    the spec file in error messages.  Raises InputError naming the spec key at fault.
    """
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)        # as the CLI reads an ISO time without offset
    model = _SpecParser(spec, pki, source, now).parse()
    t, signer = model["type"], model["signer"]

    root = _Writer(model, pki).root()
    _indent(root)
    unsigned = serialise(root)
    # Our own output must be schema-valid before it is signed; a failure here is a spec
    # value the reader let through, reported with the schema's path.
    errors = schema.validate(root, file_type=t, unsigned=True)
    if errors:
        raise InputError(f"the spec gives a {t} that is not valid against the SMETS1 Migration "
                         f"Schema: {errors[0]}", file=source)

    facts = naming_facts(model)
    if model["name"] == "auto":
        name, rule_id = table_10_2_name(facts, source=source)
    else:
        name, rule_id = model["name"], None

    key, cert = signer.signer()
    try:
        content = signature.sign(root, key, cert)     # verifies before returning
    except InputError as exc:
        raise InputError(f"cannot sign with PKI entry {signer.name}: {exc}", file=source,
                         where="key signer") from None
    errors = schema.validate(content, file_type=t)
    if errors:                                        # never expected: sign() appends only ds:Signature
        raise InputError(f"signed {t} is not schema-valid: {errors[0]}", file=source)
    return BuiltFile(name=name, content=content, file_type=t, signer=signer.name,
                     unsigned=unsigned, facts={**facts, "file_name": name}, naming_rule=rule_id)
