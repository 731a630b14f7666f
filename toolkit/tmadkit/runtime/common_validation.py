"""Primitives of the Common Validation Checks (TMAD Table 5.10) and of the Requesting Party's
checks around them (Clauses 5.8, 4.34A, 4.44A and 5.12).

They look at one SMETS1 Installation as facts (see common_validation/extract.py for how an MCF
entry becomes them):

    installation:
      chf:  {device_id, device_type, manufacturer, model, firmware_version}
      gpf:  {device_id, certificates: {critical_network_operator, non_critical_network_operator,
                                       critical_supplier, non_critical_supplier}}
      esme: {..., mpan, certificates: {the same four}}
      gsme: {..., mprn, certificates: {critical_supplier, non_critical_supplier}}
      ppmid, ihd, cad: {device_id, device_type, manufacturer, model, firmware_version}

A Certificate ID is {issuer: X509IssuerName text, serial: decimal text}; the Null Certificate ID
is {issuer: "NULL", serial: "0"} (the string "NULL" is read the same way).  The reference data
is the World (tmadkit.world) at a fact path (`context.world`), and every time-dependent check
takes the check time as a fact: nothing reads the clock.

Device order matters: a row that says "for the CHF then the ESME then ..." reports the *first*
Device in that order that fails, and its SupportingData names that Device (one FailedCheck per
row: Clause 5.10(c) "a FailedCheck element which includes (1) the relevant StepNumber ...").
A Device the MCF does not have is skipped when the TMAD says "(if present)" - GSME, PPMID, IHD,
CAD - and is a failure for the CHF, GPF and ESME, which every installation has (Definitions
"SMETS1 Installation").  Anything the World does not know - a model, a party, a certificate -
is a failure of the check that needed it, never an exception.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from collections.abc import Mapping
from typing import Any, Sequence

from ..smki.certificates import NULL_CERTIFICATE_ID
from .facts import MISSING, get
from .verdict import Result

Facts = Mapping[str, Any]

# Which Devices every SMETS1 Installation has, and the DeviceType each Detail must carry.
MANDATORY = ("chf", "gpf", "esme")
OPTIONAL = ("gsme", "ppmid", "ihd", "cad")
DEVICE_TYPE = {"chf": "CHF", "gpf": "GPF", "esme": "ESME", "gsme": "GSME", "ppmid": "PPMID",
               "ihd": "IHD", "cad": "CAD"}
# Table 10.1 order of the Certificate IDs of a Detail.
SLOTS = ("critical_network_operator", "non_critical_network_operator", "critical_supplier",
         "non_critical_supplier")
# Clause 2 IDs derived from a certificate: (Remote Party Role, keyUsage) per kind of ID.
ID_KINDS = ("critical_supplier", "non_critical_supplier", "critical_network_operator",
            "non_critical_network_operator")
PARTY_ROLES = {"supplier": ("critical_supplier", "non_critical_supplier"),
               "network_operator": ("critical_network_operator", "non_critical_network_operator")}
REGISTRATION_ROLES = ("import_supplier", "electricity_distributor", "gas_supplier", "gas_transporter")
PARTY_NAMES = {"supplier": "Supplier Party", "network_operator": "Network Party"}


# --- helpers -------------------------------------------------------------------------

def _kinds(devices: Sequence[str]) -> Sequence[str]:
    for d in devices:
        if d not in DEVICE_TYPE:
            # A rule-file mistake, not bad input: the generator's callers see it at once.
            raise ValueError(f"unknown device kind {d!r}; known: {list(DEVICE_TYPE)}")
    return devices


def _is_map(value: Any) -> bool:
    # type() first: the ABC check costs more than the rest of a cheap check.
    return type(value) is dict or isinstance(value, Mapping)


def _devices(facts: Facts, installation: str, devices: Sequence[str]) -> list:
    """(kind, device mapping | None) in the row's order; None for a mandatory Device that is
    absent.  Absent optional Devices are left out ("if present")."""
    inst = get(facts, installation)
    if not _is_map(inst):
        inst = {}
    out = []
    for kind in _kinds(devices):
        dev = inst.get(kind)
        if _is_map(dev):
            out.append((kind, dev))
        elif kind in MANDATORY:
            out.append((kind, None))
    return out


def _id(dev: Mapping | None, kind: str) -> str:
    return str(dev.get("device_id")) if dev and dev.get("device_id") else f"the {DEVICE_TYPE[kind]}"


def _device_evidence(dev: Mapping | None) -> dict | None:
    return {"device_id": str(dev["device_id"])} if dev and dev.get("device_id") else None


def _world(facts: Facts, world: str):
    w = get(facts, world)
    if w is MISSING or w is None:
        raise ValueError(f"{world} is absent: the check needs the reference data (a World)")
    return w


def _time(facts: Facts, at: str) -> datetime:
    value = get(facts, at)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{at} is {value!r}, required an ISO 8601 date-time with a UTC offset")
    return value


def _iso(when: datetime) -> str:
    # Every message of a time-dependent check names the check time, which is one per run.
    # Keyed with the offset too: equal instants written with different offsets read differently.
    return _iso_cached(when, when.utcoffset())


@lru_cache(maxsize=64)
def _iso_cached(when: datetime, offset) -> str:
    return when.isoformat()


def _model(dev: Mapping) -> tuple[str, str, str | None]:
    fw = dev.get("firmware_version")
    return (str(dev.get("manufacturer") or ""), str(dev.get("model") or ""),
            None if fw in (None, "") else str(fw))


def _show_model(dev: Mapping) -> str:
    m, mo, fw = _model(dev)
    return f"{m}/{mo}/{fw if fw is not None else '(no FirmwareVersion)'}"


@lru_cache(maxsize=65536)
def _parse_certificate_id(issuer: str, serial: str):
    # DN parsing is the costly part of a check, and an MCF names few distinct certificates.
    from ..errors import InputError
    from ..smki.certificates import CertificateId

    try:
        return CertificateId.parse(issuer, serial)
    except InputError:
        return None


def certificate_id(value: Any):
    """A Certificate ID fact as a tmadkit.smki CertificateId, or None when it is not one."""
    if value == "NULL":
        return NULL_CERTIFICATE_ID
    if not isinstance(value, Mapping) or "issuer" not in value or "serial" not in value:
        return None
    return _parse_certificate_id(str(value["issuer"]), str(value["serial"]))


def certificate_evidence(value: Any) -> dict:
    """A Certificate ID fact as SupportingData's CertificateID: the {issuer, serial} text the
    MCF gave (so the Requesting Party finds its own value), "NULL" as the Null Certificate ID."""
    if value == "NULL":
        return {"issuer": "NULL", "serial": "0"}
    if isinstance(value, Mapping):
        return {"issuer": str(value.get("issuer", "")), "serial": str(value.get("serial", ""))}
    return {"issuer": str(value), "serial": ""}


def _is_null(value: Any) -> bool:
    cid = certificate_id(value)
    return cid is not None and cid.is_null


def _cert_key(value: Any) -> Any:
    """Everything the certificate primitives read of a Certificate ID fact, as a hashable key."""
    if type(value) is dict and len(value) == 2 and type(value.get("issuer")) is str \
            and type(value.get("serial")) is str:
        return value["issuer"], value["serial"]          # what an MCF's X509IssuerSerial gives
    if value is MISSING:
        return MISSING
    return type(value).__name__, repr(value), str(value)  # anything else, as the messages show it


def _memo(world, key: tuple, compute):
    """compute() - a pure function of `key` and the World at one check time - remembered for the
    run where the World keeps a memo (common_validation.CachedWorld), computed anew otherwise.

    An MCF names few distinct certificates but repeats them in every installation, so the
    certificate rows are answered once per distinct set of Certificate IDs; the key holds every
    input the computation reads (fact paths for the wording, values, check time)."""
    memo = getattr(world, "memo", None)
    if memo is None:
        return compute()
    try:
        return memo[key]
    except KeyError:
        result = memo[key] = compute()
        return result


def _clause2_id(world, value: Any, kind: str) -> str | None:
    """The Clause 2 Critical/Non-Critical Supplier/Network Operator ID of the certificate a
    Certificate ID identifies (null: None), per Remote Party Role and keyUsage."""
    cid = certificate_id(value)
    if cid is None or cid.is_null:
        return None
    return getattr(world.registry, f"{kind}_id")(cid)


# --- Table 5.10: products (5.10.1-5.10.3) -----------------------------------------------

def _every_model(facts: Facts, installation: str, devices: Sequence[str], problem) -> Result | list[str]:
    """The DeviceTypes of `devices` in order, each Device's model checked by `problem(kind,
    dev, (manufacturer, model, firmware))` (None, or what is wrong in words); or the failure
    of the first Device that is absent or has a problem."""
    checked = []
    for kind, dev in _devices(facts, installation, devices):
        if dev is None:
            return Result(False, f"the installation has no {DEVICE_TYPE[kind]}")
        why = problem(kind, dev, _model(dev))
        if why is not None:
            return Result(False, why, _device_evidence(dev))
        checked.append(DEVICE_TYPE[kind])
    return checked


def cpl_listed(facts: Facts, *, installation: str, devices: Sequence[str], world: str) -> Result:
    """5.10.1: each Device's DeviceDetail equates to a CPL entry for the required DeviceType.

    A DeviceDetail without FirmwareVersion does not equate to any entry: a CPL entry is a
    Device Model, and a Device Model includes its firmware version (fail-closed)."""
    w = _world(facts, world)

    def problem(kind, dev, model):
        required = DEVICE_TYPE[kind]
        entries = w.cpl_lookup(*model) if model[2] is not None else []
        if any(e.device_type == required for e in entries):
            return None
        found = ", ".join(sorted({e.device_type for e in entries})) or "no entry"
        return f"{required} {_id(dev, kind)} model {_show_model(dev)} is not on the CPL as a {required} ({found})"

    checked = _every_model(facts, installation, devices, problem)
    if isinstance(checked, Result):
        return checked
    return Result(True, f"{', '.join(checked)} Device Models are on the CPL")


def group_allowed(facts: Facts, *, installation: str, devices: Sequence[str], group: str, world: str) -> Result:
    """5.10.2: each Device Model is allowable for the GroupID per the Group Device Model
    Combination List."""
    w = _world(facts, world)
    group_id = get(facts, group)

    def problem(kind, dev, model):
        if group_id not in (MISSING, None) and model[2] is not None and \
                w.group_allows(str(group_id), model, DEVICE_TYPE[kind]):
            return None
        return (f"{DEVICE_TYPE[kind]} {_id(dev, kind)} model {_show_model(dev)} is not within "
                f"GroupID {group_id if group_id is not MISSING else '(absent)'}")

    checked = _every_model(facts, installation, devices, problem)
    if isinstance(checked, Result):
        return checked
    return Result(True, f"{', '.join(checked)} Device Models are allowable in GroupID {group_id}")


def epc_eligible(facts: Facts, *, installation: str, devices: Sequence[str], group: str, world: str) -> Result:
    """5.10.3: an SMETS1 Eligible Product Combination has this combination of Device Models and
    Device Types, and for at least one such entry the GroupID matches the file's.  The Device
    Types are the ones the DeviceDetails state."""
    w = _world(facts, world)
    group_id = get(facts, group)
    combination: dict[str, tuple] = {}
    for kind, dev in _devices(facts, installation, devices):
        if dev is None:
            return Result(False, f"the installation has no {DEVICE_TYPE[kind]}")
        stated = str(dev.get("device_type") or "")
        m, mo, fw = _model(dev)
        if stated not in ("CHF", "ESME", "GSME", "PPMID") or stated in combination or fw is None:
            return Result(False, f"{_id(dev, kind)} ({_show_model(dev)}, DeviceType {stated or '(absent)'}) "
                                 "cannot be part of an Eligible Product Combination")
        combination[stated] = (m, mo, fw)
    entries = w.epc_matches(combination)
    shown = " + ".join(f"{t} {'/'.join(x for x in combination[t] if x)}" for t in combination)
    if not entries:
        return Result(False, f"no SMETS1 Eligible Product Combination is {shown}")
    groups = sorted({e.group_id for e in entries})
    if group_id not in groups:
        return Result(False, f"the Eligible Product Combinations for {shown} are for GroupID "
                             f"{', '.join(groups)}, not {group_id if group_id is not MISSING else '(absent)'}")
    return Result(True, f"{shown} is an Eligible Product Combination for GroupID {group_id}")


# --- Table 5.10: inventory (5.10.4) and DeviceType (5.10.18) -------------------------------

def not_in_inventory(facts: Facts, *, installation: str, devices: Sequence[str], world: str) -> Result:
    """5.10.4: no DeviceID is already recorded for any Device in the Smart Metering Inventory."""
    w = _world(facts, world)
    n = 0
    for kind, dev in _devices(facts, installation, devices):
        if dev is None:
            return Result(False, f"the installation has no {DEVICE_TYPE[kind]}")
        device_id = dev.get("device_id")
        if not device_id:
            return Result(False, f"the {DEVICE_TYPE[kind]} has no DeviceID")
        if w.in_smi(str(device_id)):
            return Result(False, f"{DEVICE_TYPE[kind]} {device_id} is already in the Smart Metering Inventory",
                          _device_evidence(dev))
        n += 1
    return Result(True, f"none of the {n} DeviceIDs is in the Smart Metering Inventory")


def device_types(facts: Facts, *, installation: str, devices: Sequence[str]) -> Result:
    """5.10.18: the DeviceType within each Device's DeviceDetail has the required value."""
    shown = []
    for kind, dev in _devices(facts, installation, devices):
        if dev is None:
            return Result(False, f"the installation has no {DEVICE_TYPE[kind]}")
        stated = dev.get("device_type")
        if stated != DEVICE_TYPE[kind]:
            return Result(False, f"the DeviceType of {DEVICE_TYPE[kind]} {_id(dev, kind)} is "
                                 f"{stated if stated not in (None, '') else '(absent)'}, required "
                                 f"{DEVICE_TYPE[kind]}", _device_evidence(dev))
        shown.append(DEVICE_TYPE[kind])
    return Result(True, f"DeviceType is right for {', '.join(shown) or 'no Device present'}")


# --- Table 5.10: certificates (5.10.5-5.10.8, 5.10.11, 5.10.13, 5.10.16) ----------------------

def null_certificate_id(facts: Facts, *, certificate: str) -> Result:
    """The Certificate ID is the Null Certificate ID (serial '0', issuer 'NULL')."""
    value = get(facts, certificate)
    ok = _is_null(value)
    return Result(ok, f"{certificate} is {'the' if ok else 'not the'} Null Certificate ID")


def certificates_valid(facts: Facts, *, device: str, slots: Sequence[str], world: str, at: str) -> Result:
    """5.10.5-5.10.7: Confirm Validity of each certificate the Device's Certificate IDs identify,
    in Table 10.1 order, except any Null Certificate ID; the first invalid one is reported."""
    bad = [s for s in slots if s not in SLOTS]
    if bad:
        raise ValueError(f"unknown certificate slots {bad}; known: {list(SLOTS)}")
    w, when = _world(facts, world), _time(facts, at)
    dev = get(facts, device)
    if not _is_map(dev):
        return Result(False, f"{device} is absent")
    certs = dev.get("certificates")
    if not _is_map(certs):
        certs = {}
    values = tuple(certs.get(slot, MISSING) for slot in slots)
    return _memo(w, ("certificates_valid", device, tuple(slots), when, when.utcoffset(),
                     tuple(map(_cert_key, values))),
                 lambda: _certificates_valid(device, slots, values, w, when))


def _certificates_valid(device: str, slots: Sequence[str], values: tuple, w, when: datetime) -> Result:
    checked = 0
    for slot, value in zip(slots, values):
        if value is MISSING:
            return Result(False, f"{device} has no {slot} Certificate ID")
        cid = certificate_id(value)
        if cid is None:
            return Result(False, f"{device} {slot} is not a Certificate ID: {value!r}",
                          {"certificate": certificate_evidence(value)})
        if cid.is_null:
            continue
        verdict = w.registry.confirm_validity(cid, when)
        if not verdict:
            return Result(False, f"{device} {slot} certificate is not valid at {_iso(when)}: {verdict}",
                          {"certificate": certificate_evidence(value)})
        checked += 1
    return Result(True, f"{checked} certificate(s) of {device} valid at {_iso(when)} "
                        f"({len(slots) - checked} Null Certificate ID(s) exempt)")


def same_party_ids(facts: Facts, *, pairs: Sequence[Sequence[str]], role: str, world: str) -> Result:
    """5.10.8, 5.10.11, 5.10.13, 5.10.16: for each (Critical, Non-Critical) pair of Certificate
    IDs, neither Clause 2 ID is null, and all of them identify the same Party.  The first pair at
    fault is the SupportingData (CertificatePair, Critical first)."""
    if role not in PARTY_ROLES:
        raise ValueError(f"role must be one of {sorted(PARTY_ROLES)}, not {role!r}")
    w = _world(facts, world)
    paths = tuple((critical, non_critical) for critical, non_critical in pairs)
    values = tuple((get(facts, critical), get(facts, non_critical)) for critical, non_critical in paths)
    return _memo(w, ("same_party_ids", role, paths, tuple((_cert_key(c), _cert_key(n)) for c, n in values)),
                 lambda: _same_party_ids(paths, values, role, w))


def _same_party_ids(paths: tuple, values: tuple, role: str, w) -> Result:
    critical_kind, non_critical_kind = PARTY_ROLES[role]
    first_id: str | None = None
    first_where = ""
    for (critical, non_critical), (c, n) in zip(paths, values):
        cid, nid = _clause2_id(w, c, critical_kind), _clause2_id(w, n, non_critical_kind)
        if cid is not None and nid is not None and w.same_party(cid, nid) and (
                first_id is None or w.same_party(first_id, cid)):
            first_id, first_where = (cid, critical) if first_id is None else (first_id, first_where)
            continue
        evidence = {"certificate_pair": [certificate_evidence(c), certificate_evidence(n)]}
        if cid is None or nid is None:
            which = " and ".join(x for x, v in ((f"{critical} gives no {critical_kind.replace('_', ' ')} ID", cid),
                                               (f"{non_critical} gives no {non_critical_kind.replace('_', ' ')} ID", nid))
                                 if v is None)
            return Result(False, f"{which} (null: not a {role} certificate of that keyUsage, or unknown)", evidence)
        if not w.same_party(cid, nid):
            return Result(False, f"{critical} ({cid}) and {non_critical} ({nid}) do not identify the same "
                                 f"{PARTY_NAMES[role]}", evidence)
        return Result(False, f"{critical} ({cid}) and {first_where} ({first_id}) do not identify the same "
                             f"{PARTY_NAMES[role]}", evidence)
    party = w.party_of(first_id) if first_id else None
    return Result(True, f"the certificates identify one {PARTY_NAMES[role]}"
                        + (f": {party.party_id}" if party is not None else ""))


def _party(w, value: Any, kind: str) -> tuple:
    entity = _clause2_id(w, value, kind)
    return entity, (w.party_of(entity) if entity else None)


def registered_party(facts: Facts, *, certificate: str, kind: str, mpxn: str, role: str, world: str,
                     at: str) -> Result:
    """5.10.9, 5.10.12, 5.10.14, 5.10.17: the Party the certificate's Clause 2 ID identifies is,
    according to Registration Data, the one holding `role` for the MPxN at the check time."""
    if kind not in ID_KINDS:
        raise ValueError(f"kind must be one of {list(ID_KINDS)}, not {kind!r}")
    if role not in REGISTRATION_ROLES:
        raise ValueError(f"role must be one of {list(REGISTRATION_ROLES)}, not {role!r}")
    w, when = _world(facts, world), _time(facts, at)
    value, number = get(facts, certificate), get(facts, mpxn)
    entity, party = _memo(w, ("party", kind, _cert_key(value)), lambda: _party(w, value, kind))
    if party is None:
        return Result(False, f"{certificate} identifies no known Party ({kind.replace('_', ' ')} ID "
                             f"{entity or 'null'})", {"certificate": certificate_evidence(value)})
    if number in (MISSING, None, ""):
        return Result(False, f"{mpxn} is absent", {"certificate": certificate_evidence(value)})
    registered = w.registered(str(number), role, when)
    if registered != party.party_id:
        return Result(False, f"according to Registration Data the {role.replace('_', ' ')} for {number} at "
                             f"{_iso(when)} is {registered or 'nobody'}, not {party.party_id}",
                      {"certificate": certificate_evidence(value)})
    return Result(True, f"{party.party_id} is the {role.replace('_', ' ')} for {number} at {_iso(when)}")


def no_registration_change(facts: Facts, *, mpxn: str, role: str, world: str, at: str, days: int) -> Result:
    """5.10.10, 5.10.15: according to Registration Data the party holding `role` for the MPxN
    does not change within the next `days` days: (at, at + days], end inclusive (spec/world)."""
    if role not in REGISTRATION_ROLES:
        raise ValueError(f"role must be one of {list(REGISTRATION_ROLES)}, not {role!r}")
    w, when = _world(facts, world), _time(facts, at)
    number = get(facts, mpxn)
    if number in (MISSING, None, ""):
        return Result(False, f"{mpxn} is absent")
    if w.registered(str(number), role, when) is None:
        return Result(False, f"Registration Data has no {role.replace('_', ' ')} for {number} at {_iso(when)}")
    if w.change_within(str(number), role, when, days):
        return Result(False, f"the {role.replace('_', ' ')} for {number} changes within the {days} days after "
                             f"{_iso(when)}")
    return Result(True, f"no change of {role.replace('_', ' ')} for {number} within {days} days of {_iso(when)}")


# --- Clause 5.8, 4.34A, 4.44A: what a Migration Common File may contain -----------------------

def active_devices_certified(facts: Facts, *, installation: str, devices: Sequence[str]) -> Result:
    """5.8: no Active Device whose CriticalSupplierCertificateID or NonCriticalSupplierCertificateID
    has the null value.  A Device is Active when its fact `active` is true."""
    for kind, dev in _devices(facts, installation, devices):
        if dev is None or dev.get("active") is not True:
            continue
        certs = dev.get("certificates") if isinstance(dev.get("certificates"), Mapping) else {}
        for slot in ("critical_supplier", "non_critical_supplier"):
            value = certs.get(slot, MISSING)
            if value is MISSING or _is_null(value):
                return Result(False, f"Active {DEVICE_TYPE[kind]} {_id(dev, kind)} has a null {slot} Certificate ID",
                              _device_evidence(dev))
    return Result(True, "every Active Device has both Supplier Certificate IDs")


def all_devices_active(facts: Facts, *, installations: str) -> Result:
    """5.8(i): every Device of every SMETS1 Installation in the file is an Active Device."""
    items = get(facts, installations)
    if not isinstance(items, list) or not items:
        return Result(False, f"{installations} is absent")
    for i, inst in enumerate(items):
        for kind, dev in (inst.items() if isinstance(inst, Mapping) else ()):
            # "Active Device": an Active Meter or Active GPF (Clause 2); hubs and displays are neither.
            if kind in ("gpf", "esme", "gsme") and isinstance(dev, Mapping) and dev.get("active") is not True:
                return Result(False, f"installation {i + 1}: {DEVICE_TYPE[kind]} {_id(dev, kind)} is not Active",
                              _device_evidence(dev))
    return Result(True, f"every Meter and GPF of the {len(items)} installation(s) is Active")


def supplier_ids_one_party(facts: Facts, *, installations: str, world: str, affiliates: bool) -> Result:
    """5.8(iii): all Supplier Certificate IDs in the file refer to certificates whose User IDs
    are allocated to one Supplier Party (or, with `affiliates`, to Affiliates of one another)."""
    w = _world(facts, world)
    items = get(facts, installations)
    if not isinstance(items, list) or not items:
        return Result(False, f"{installations} is absent")
    first = None
    for i, inst in enumerate(items):
        for kind, dev in (inst.items() if isinstance(inst, Mapping) else ()):
            if not isinstance(dev, Mapping) or not isinstance(dev.get("certificates"), Mapping):
                continue
            for slot in ("critical_supplier", "non_critical_supplier"):
                if slot not in dev["certificates"]:
                    continue
                value = dev["certificates"][slot]
                entity = _clause2_id(w, value, slot)
                if entity is None or w.party_of(entity) is None:
                    return Result(False, f"installation {i + 1}: {DEVICE_TYPE.get(kind, kind)} {slot} refers to no "
                                         "Supplier Party's certificate", {"certificate": certificate_evidence(value)})
                if first is None:
                    first = entity
                elif not w.same_party(first, entity, affiliates=affiliates):
                    return Result(False, f"installation {i + 1}: {DEVICE_TYPE.get(kind, kind)} {slot} belongs to "
                                         f"{w.party_of(entity).party_id}, not {w.party_of(first).party_id}"
                                         + (" or an Affiliate" if affiliates else ""),
                                  {"certificate": certificate_evidence(value)})
    if first is None:
        return Result(False, "the file has no Supplier Certificate IDs")
    return Result(True, f"every Supplier Certificate ID refers to {w.party_of(first).party_id}"
                        + (" or its Affiliates" if affiliates else ""))


def most_recently_joined(facts: Facts, *, installation: str, han: str, devices: Sequence[str]) -> Result:
    """4.34A / 4.44A: of each Device Type, the MCF holds only the Device most recently joined to
    the HAN, and none for which there is insufficient information.  `han` lists, per kind, the
    installation's Devices as {device_id, joined_at, sufficient}."""
    inst = get(facts, installation)
    inst = inst if isinstance(inst, Mapping) else {}
    records = get(facts, han)
    records = records if isinstance(records, Mapping) else {}
    for kind in _kinds(devices):
        included = inst.get(kind)
        included_id = included.get("device_id") if isinstance(included, Mapping) else None
        candidates = [r for r in records.get(kind) or [] if isinstance(r, Mapping)]
        usable = [r for r in candidates if r.get("sufficient", True) is True]
        expected = max(usable, key=lambda r: datetime.fromisoformat(str(r["joined_at"])), default=None)
        expected_id = expected.get("device_id") if expected else None
        if included_id != expected_id:
            want = f"{expected_id} (joined {expected['joined_at']})" if expected else "none"
            return Result(False, f"the MCF holds {DEVICE_TYPE[kind]} {included_id or 'none'}, required {want}",
                          {"device_id": str(included_id)} if included_id else None)
    return Result(True, f"the MCF holds the most recently joined {', '.join(DEVICE_TYPE[k] for k in devices)}")


# --- Clause 5.12: before a Requesting Party triggers Migration -------------------------------

def no_failed_checks(facts: Facts, *, installations: str, requested: str) -> Result:
    """5.12(b): every Requested Installation has an entry in the MVF, with no FailedCheck.
    `installations`: the MVF's entries as {chf, failed_checks: [...]}; `requested`: CHF IDs."""
    entries = get(facts, installations)
    wanted = get(facts, requested)
    if not isinstance(wanted, list) or not wanted:
        return Result(False, f"{requested} is absent")
    by_chf = {str(e.get("chf")).upper(): e for e in entries if isinstance(e, Mapping)} \
        if isinstance(entries, list) else {}
    for chf in wanted:
        entry = by_chf.get(str(chf).upper())
        if entry is None:
            return Result(False, f"the MVF has no entry for CHF {chf}", {"device_id": str(chf)})
        failed = entry.get("failed_checks") or []
        if failed:
            steps = ", ".join(str(f.get("step")) for f in failed if isinstance(f, Mapping))
            return Result(False, f"the MVF details errors for CHF {chf}: {steps}", {"device_id": str(chf)})
    return Result(True, f"no errors detailed for the {len(wanted)} Requested Installation(s)")


def wan_contact_within(facts: Facts, *, chfs: str, world: str, at: str, days: int) -> Result:
    """5.12(c): one or more WAN communications with each Communications Hub within the last
    `days` days: a contact in [at - days, at] (spec/world)."""
    w, when = _world(facts, world), _time(facts, at)
    wanted = get(facts, chfs)
    if not isinstance(wanted, list) or not wanted:
        return Result(False, f"{chfs} is absent")
    for chf in wanted:
        if not w.wan_contact_within(str(chf), when, days):
            last = w.last_wan_contact(str(chf), when)
            return Result(False, f"no WAN communication with CHF {chf} within {days} days of {_iso(when)} "
                                 f"(last: {last.isoformat() if last else 'never'})", {"device_id": str(chf)})
    return Result(True, f"WAN communication with each of {len(wanted)} Communications Hub(s) within {days} days")


# --- generic --------------------------------------------------------------------------------

def same_members(facts: Facts, *, fact: str, values: Sequence[Any]) -> Result:
    """The list at `fact` has exactly these members, in any order, each once."""
    actual = get(facts, fact)
    if not isinstance(actual, list):
        return Result(False, f"{fact} is {'absent' if actual is MISSING else repr(actual)}, required a list")
    ok = len(actual) == len(set(map(str, actual))) and set(map(str, actual)) == set(map(str, values))
    return Result(ok, f"{fact} is {sorted(map(str, actual))}" + ("" if ok else f", required {sorted(map(str, values))}"))


# Primitives whose verdict - pass, fail or not applicable - reads nothing of a Device's
# identifiers (DeviceID, MPAN, MPRN) unless an argument names one: those appear only in their
# wording and SupportingData.  (The generic `present` reads only whether its fact exists.)
# Table 5.10 decides once per distinct installation-without-identifiers whether such a row
# passes (common_validation/run.py); adding a primitive here is a claim the tests check.
IDENTIFIER_BLIND = frozenset({"cpl_listed", "group_allowed", "epc_eligible", "device_types", "null_certificate_id",
                              "certificates_valid", "same_party_ids", "present"})

PRIMITIVES = {
    "cpl_listed": cpl_listed,
    "group_allowed": group_allowed,
    "epc_eligible": epc_eligible,
    "not_in_inventory": not_in_inventory,
    "device_types": device_types,
    "null_certificate_id": null_certificate_id,
    "certificates_valid": certificates_valid,
    "same_party_ids": same_party_ids,
    "registered_party": registered_party,
    "no_registration_change": no_registration_change,
    "active_devices_certified": active_devices_certified,
    "all_devices_active": all_devices_active,
    "supplier_ids_one_party": supplier_ids_one_party,
    "most_recently_joined": most_recently_joined,
    "no_failed_checks": no_failed_checks,
    "wan_contact_within": wan_contact_within,
    "same_members": same_members,
}
