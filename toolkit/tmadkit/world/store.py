"""The world's SQLite store: schema, row conversion for the loader, and the query API.

One SQLite file holds both the world tables below and the certificate registry's tables
(tmadkit.smki.registry, opened on the same file by World.registry), so a loaded world is
one file that can be copied, opened read-only by many processes, and replaced atomically.

Times are integer microseconds since the Unix epoch, UTC (as in stores/counters.py):
exact, ordered, and never a float.  Every query that depends on time takes the check
time `at` as an argument and refuses a naive datetime; nothing here reads the clock.

Decisions (each is what the Table 5.10 scenarios rely on):

* Registration periods are [effective_from, effective_to): the party registered at
  effective_from is registered at that instant; effective_to is the first instant it is
  not.  If periods overlap (`world check` reports it) the one with the latest
  effective_from wins, i.e. a later registration supersedes.
* "no change within the next 7 days" (steps 5.10.10, 5.10.15) is read as: the party
  registered at any instant of (at, at + 7 x 24 h] differs from the party registered
  at `at`.  The end is inclusive - a change taking effect exactly 7 days after the
  check time *is* within the next 7 days - which is the fail-closed reading (the
  installation is not migrated while its supplier is about to change).  A change at
  `at` itself has already happened: it is the current registration, not a change to come.
  A re-registration to the same party is not a change of Import/Gas Supplier.
* "within the last 7 days" (Clause 5.12(c)) is the closed interval [at - 7 days, at];
  contacts recorded after `at` are ignored, as a check at `at` could not know them.
* Device Models are compared exactly, as DUIS strings are (no case folding).
"""
from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

from ..errors import InputError
from ..smki.certificates import CertificateId, normalise_eui
from ..smki.registry import Registry

FORMAT_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
DAY_US = 86_400_000_000

# The Table 5.10 step 5.10.3 slots of a combination, in the order the TMAD lists them.
COMBINATION_SLOTS = ("CHF", "ESME", "GSME", "PPMID")
SUPPLIER_ROLES = ("import_supplier", "gas_supplier")
NETWORK_ROLES = ("electricity_distributor", "gas_transporter")
# Which registration file each role comes from (for messages naming the file).
ROLE_TABLE = {"import_supplier": "mpan_registrations", "electricity_distributor": "mpan_registrations",
              "gas_supplier": "mprn_registrations", "gas_transporter": "mprn_registrations"}
# Installation kinds epc_matches() accepts, and the entry scopes (Clause 3.6) that admit each.
_ADMITTED_BY = {"dormant": ("dormant", "either"), "active": ("active", "either"), "mixed": ("either",)}

DDL = """
CREATE TABLE world_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE world_source (tbl TEXT PRIMARY KEY, file TEXT NOT NULL, records INTEGER NOT NULL);
-- `rec` in every table: the 1-based record number in its source file, for messages.
CREATE TABLE party (rec INTEGER NOT NULL, party_id TEXT NOT NULL, name TEXT NOT NULL,
                    party_type TEXT NOT NULL, party_signifier TEXT, affiliate_group TEXT);
CREATE TABLE party_entity (rec INTEGER NOT NULL, entity_id TEXT NOT NULL, party TEXT NOT NULL,
                           user_role TEXT);
CREATE TABLE cpl (rec INTEGER NOT NULL, manufacturer TEXT NOT NULL, model TEXT NOT NULL,
                  firmware_version TEXT NOT NULL, device_type TEXT NOT NULL,
                  smets_chts_version TEXT NOT NULL);
CREATE TABLE epc (rec INTEGER NOT NULL, epc_id TEXT NOT NULL, group_id TEXT NOT NULL,
                  smso TEXT NOT NULL, meters TEXT NOT NULL, csp TEXT,
                  combination TEXT NOT NULL,   -- combination_key(): exact-match lookups
                  devices TEXT NOT NULL);      -- JSON {slot: [manufacturer, model, firmware]}
CREATE TABLE group_combination (rec INTEGER NOT NULL, group_id TEXT NOT NULL,
                                combination TEXT NOT NULL, devices TEXT NOT NULL);
-- One row per (group combination, slot): what step 5.10.2 asks of a single device.
CREATE TABLE group_model (rec INTEGER NOT NULL, group_id TEXT NOT NULL, device_type TEXT NOT NULL,
                          manufacturer TEXT NOT NULL, model TEXT NOT NULL,
                          firmware_version TEXT NOT NULL);
CREATE TABLE smi (rec INTEGER NOT NULL, device_id TEXT NOT NULL, device_type TEXT);
CREATE TABLE registration (rec INTEGER NOT NULL, mpxn TEXT NOT NULL, role TEXT NOT NULL,
                           party TEXT NOT NULL, effective_from INTEGER NOT NULL,
                           effective_to INTEGER);  -- NULL = open-ended
CREATE TABLE wan_contact (rec INTEGER NOT NULL, chf TEXT NOT NULL, contacted_at INTEGER NOT NULL);
-- The registry's `certificate` table is keyed by Certificate ID; this maps world records
-- (and their names) onto it.
CREATE TABLE world_certificate (rec INTEGER NOT NULL, name TEXT, field TEXT NOT NULL,
                                issuer_key TEXT NOT NULL, serial TEXT NOT NULL,
                                issuer TEXT NOT NULL, entity_id TEXT);
CREATE TABLE world_trusted_ca (rec INTEGER NOT NULL, name TEXT, subject TEXT NOT NULL);
"""

# Built after the bulk insert (faster than maintaining them row by row), one per lookup.
INDEXES = """
CREATE INDEX party_by_id ON party (party_id);
CREATE INDEX party_entity_by_id ON party_entity (entity_id);
CREATE INDEX cpl_by_model ON cpl (manufacturer, model, firmware_version);
CREATE INDEX epc_by_combination ON epc (combination);
CREATE INDEX group_model_by_model ON group_model (group_id, manufacturer, model, firmware_version);
CREATE INDEX smi_by_device ON smi (device_id);
CREATE INDEX registration_by_mpxn ON registration (mpxn, role, effective_from);
CREATE INDEX wan_contact_by_chf ON wan_contact (chf, contacted_at);
CREATE INDEX world_certificate_by_name ON world_certificate (name);
"""


class FieldError(ValueError):
    """A record's field is wrong in a way the JSON Schema cannot say (the loader adds file and record)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


# ---------------------------------------------------------------- values


class DeviceModel(NamedTuple):
    manufacturer: str
    model: str
    firmware_version: str

    @classmethod
    def of(cls, value: "DeviceModel | Mapping[str, str] | Iterable[str]") -> "DeviceModel":
        if isinstance(value, DeviceModel):
            return value
        if isinstance(value, Mapping):
            return cls(value["manufacturer"], value["model"], value["firmware_version"])
        return cls(*value)


@dataclass(frozen=True)
class CplEntry:
    device_model: DeviceModel
    device_type: str
    smets_chts_version: str
    rec: int


@dataclass(frozen=True)
class EpcEntry:
    epc_id: str
    group_id: str
    smso: str
    meters: str                         # dormant | active | either (Clause 3.6)
    communication_services_provider: str | None
    devices: Mapping[str, DeviceModel]  # slot -> Device Model
    rec: int


@dataclass(frozen=True)
class Party:
    party_id: str
    name: str
    party_type: str
    party_signifier: str | None
    affiliate_group: str | None


def to_us(t: datetime, what: str = "at") -> int:
    if t.tzinfo is None or t.utcoffset() is None:
        # A naive time is ambiguous by an hour in the UK half the year; refuse it.
        raise TypeError(f"{what} must be timezone-aware, got naive {t.isoformat()}")
    return (t - _EPOCH) // _US


def from_us(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + us * _US


@lru_cache(maxsize=65536)  # generated worlds repeat a few thousand dates a million times
def _parse_time(text: str) -> int:
    return to_us(datetime.fromisoformat(text))


def field_time(rec: Mapping[str, Any], field: str) -> int | None:
    text = rec.get(field)
    if text is None:
        return None
    try:
        return _parse_time(text)
    except ValueError as exc:  # the pattern passed but e.g. month 13
        raise FieldError(field, f"{text!r} is not a valid date-time: {exc}") from None


def combination_key(models: Mapping[str, Any]) -> str:
    """A canonical text for a combination: equal iff the same slots hold the same models."""
    parts = []
    for slot in COMBINATION_SLOTS:
        if models.get(slot) is not None:
            m = DeviceModel.of(models[slot])
            parts.append([slot, m.manufacturer, m.model, m.firmware_version])
    return json.dumps(parts, separators=(",", ":"), ensure_ascii=False)


def _devices_json(models: Mapping[str, Any]) -> str:
    return json.dumps({s: list(DeviceModel.of(models[s])) for s in COMBINATION_SLOTS if s in models},
                      separators=(",", ":"), ensure_ascii=False)


def _devices(text: str) -> dict[str, DeviceModel]:
    return {slot: DeviceModel(*m) for slot, m in json.loads(text).items()}


# ---------------------------------------------------------------- record -> row
# Records reaching these functions have passed the JSON Schema; what is left is what a
# schema cannot say (a real calendar date, effective_to after effective_from).


def _party(rec):
    return [("party", (rec["party_id"], rec["name"], rec["party_type"], rec.get("party_signifier"),
                       rec.get("affiliate_group")))]


def _eui_field(text: str) -> str:
    # The schema admits only the DUIS form (eight hyphen-separated hex pairs), so
    # normalising is upper-casing; normalise_eui's regex would cost 2 us a row.
    return text.upper()


def _entity(rec):
    return [("party_entity", (_eui_field(rec["entity_id"]), rec["party"], rec.get("user_role")))]


def _cpl(rec):
    return [("cpl", (rec["manufacturer"], rec["model"], rec["firmware_version"], rec["device_type"],
                     rec["smets_chts_version"]))]


def _epc(rec):
    d = rec["devices"]
    return [("epc", (rec["epc_id"], rec["group_id"], rec["smso"], rec["meters"],
                     rec.get("communication_services_provider"), combination_key(d), _devices_json(d)))]


def _group(rec):
    d, g = rec["devices"], rec["group_id"]
    rows = [("group_combination", (g, combination_key(d), _devices_json(d)))]
    rows += [("group_model", (g, slot, *DeviceModel.of(d[slot]))) for slot in COMBINATION_SLOTS if slot in d]
    return rows


def _smi(rec):
    return [("smi", (_eui_field(rec["device_id"]), rec.get("device_type")))]


def _registration(key):
    def build(rec):
        start, end = field_time(rec, "effective_from"), field_time(rec, "effective_to")
        if end is not None and end <= start:
            raise FieldError("effective_to", "effective_to must be after effective_from "
                             "(a registration period is [effective_from, effective_to))")
        return [("registration", (rec[key], rec["role"], rec["party"], start, end))]
    return build


def _wan(rec):
    return [("wan_contact", (_eui_field(rec["chf"]), field_time(rec, "contacted_at")))]


# table (file stem) -> record -> [(sql table, row without rec)].  certificates and
# trusted_cas go to the registry instead (load.py); `world` is the one-mapping manifest.
ROW_BUILDERS = {
    "parties": _party,
    "entity_ids": _entity,
    "central_products": _cpl,
    "eligible_product_combinations": _epc,
    "group_combinations": _group,
    "smart_metering_inventory": _smi,
    "mpan_registrations": _registration("mpan"),
    "mprn_registrations": _registration("mprn"),
    "wan_contacts": _wan,
}
SQL_COLUMNS = {
    "party": 6, "party_entity": 4, "cpl": 6, "epc": 8, "group_combination": 4, "group_model": 6,
    "smi": 3, "registration": 6, "wan_contact": 3, "world_certificate": 7, "world_trusted_ca": 3,
}


def insert_sql(table: str) -> str:
    return f"INSERT INTO {table} VALUES ({', '.join('?' * SQL_COLUMNS[table])})"


# ---------------------------------------------------------------- the query API


_DUIS_EUI = re.compile(r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}")


def _eui(text: str | None) -> str | None:
    if text is None:
        return None
    if _DUIS_EUI.fullmatch(text):
        return text.upper()   # the DUIS form every MCF DeviceID has: normalising is upper-casing
    try:
        return normalise_eui(text)
    except ValueError:
        return None  # not an EUI-64: identifies nothing in the world


class World:
    """A loaded world, read-only.  Open one with World(path) or tmadkit.world.load_world()."""

    def __init__(self, path: str | Path, *, _cleanup: Any = None):
        self.path = Path(path)
        self._cleanup = _cleanup  # a TemporaryDirectory owned by this World, if any
        if not self.path.is_file():
            raise InputError("no such world database", file=str(self.path))
        try:
            # mode=ro: queries can never change the reference data they are checking against.
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                       check_same_thread=False)
            version = self._db.execute("SELECT value FROM world_meta WHERE key = 'format'").fetchone()
        except sqlite3.Error as exc:
            raise InputError(f"not a tmadkit world database: {exc}", file=str(self.path)) from None
        if version is None or int(version[0]) != FORMAT_VERSION:
            raise InputError(f"world database format {version and version[0]} is not {FORMAT_VERSION}",
                             file=str(self.path))
        self._registry: Registry | None = None

    def close(self) -> None:
        self._db.close()
        if self._registry is not None:
            self._registry.close()
        if self._cleanup is not None:
            self._cleanup.cleanup()
            self._cleanup = None

    def __enter__(self) -> "World":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple = ()) -> tuple | None:
        return self._db.execute(sql, params).fetchone()

    # ------------------------------------------------------------ about the world

    @property
    def registry(self) -> Registry:
        """The certificate registry (Confirm Validity, Critical/Non-Critical IDs), same file."""
        if self._registry is None:
            self._registry = Registry(self.path)
        return self._registry

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM world_meta WHERE key = ?", (key,))
        return row[0] if row else None

    @property
    def reference_time(self) -> datetime | None:
        text = self.meta("reference_time")
        return datetime.fromisoformat(text) if text else None

    def sources(self) -> dict[str, str]:
        """table -> the file it was loaded from (relative to the world directory)."""
        return dict(self._all("SELECT tbl, file FROM world_source"))

    def counts(self) -> dict[str, int]:
        return dict(self._all("SELECT tbl, records FROM world_source"))

    # ------------------------------------------------------------ products (5.10.1-5.10.3)

    def cpl_lookup(self, manufacturer: str, model: str, firmware: str | None) -> list[CplEntry]:
        """CPL entries for a Device Model (step 5.10.1); the caller checks the DeviceType.

        firmware=None (a DeviceDetail without FirmwareVersion, Table 8.7.4) returns the
        entries for every firmware version: whether that "equates" is the caller's decision.
        """
        sql = ("SELECT manufacturer, model, firmware_version, device_type, smets_chts_version, rec "
               "FROM cpl WHERE manufacturer = ? AND model = ?")
        params: tuple = (manufacturer, model)
        if firmware is not None:
            sql += " AND firmware_version = ?"
            params += (firmware,)
        return [CplEntry(DeviceModel(m, mo, f), t, v, rec)
                for m, mo, f, t, v, rec in self._all(sql + " ORDER BY rec", params)]

    def epc_matches(self, models_by_device_type: Mapping[str, Any], group_id: str | None = None,
                    dormant_or_active: str | None = None) -> list[EpcEntry]:
        """EPC entries with exactly this combination of Device Models (step 5.10.3).

        models_by_device_type: slot (CHF, ESME, GSME, PPMID) -> DeviceModel, tuple or
        mapping; leave absent devices out.  group_id: only entries with this GroupID
        (None: any).  dormant_or_active: the installation's meters - 'dormant' (solely
        Dormant Meters), 'active' (solely Active Meters) or 'mixed' - keeping only entries
        whose Clause 3.6 scope admits it (None: any scope).
        """
        unknown = set(models_by_device_type) - set(COMBINATION_SLOTS)
        if unknown:
            raise ValueError(f"EPC combinations have slots {COMBINATION_SLOTS}, not {sorted(unknown)}")
        sql = ("SELECT epc_id, group_id, smso, meters, csp, devices, rec FROM epc "
               "WHERE combination = ?")
        params: tuple = (combination_key(models_by_device_type),)
        if group_id is not None:
            sql += " AND group_id = ?"
            params += (group_id,)
        if dormant_or_active is not None:
            try:
                scopes = _ADMITTED_BY[dormant_or_active]
            except KeyError:
                raise ValueError(f"dormant_or_active must be one of {sorted(_ADMITTED_BY)} or None, "
                                 f"not {dormant_or_active!r}") from None
            sql += f" AND meters IN ({', '.join('?' * len(scopes))})"
            params += scopes
        return [EpcEntry(e, g, s, m, c, _devices(d), rec)
                for e, g, s, m, c, d, rec in self._all(sql + " ORDER BY rec", params)]

    def group_allows(self, group_id: str, device_model: Any, device_type: str | None = None) -> bool:
        """Whether the Group Device Model Combination List allows this Device Model in the
        Group (step 5.10.2), optionally only in the given slot (CHF, ESME, GSME, PPMID)."""
        m = DeviceModel.of(device_model)
        sql = ("SELECT 1 FROM group_model WHERE group_id = ? AND manufacturer = ? AND model = ? "
               "AND firmware_version = ?")
        params: tuple = (group_id, *m)
        if device_type is not None:
            sql += " AND device_type = ?"
            params += (device_type,)
        return self._one(sql + " LIMIT 1", params) is not None

    # ------------------------------------------------------------ inventory (5.10.4)

    def in_smi(self, device_id: str) -> bool:
        eui = _eui(device_id)
        return eui is not None and self._one("SELECT 1 FROM smi WHERE device_id = ? LIMIT 1",
                                             (eui,)) is not None

    # ------------------------------------------------------------ Registration Data (5.10.9-5.10.17)

    def registered(self, mpxn: str, role: str, at: datetime) -> str | None:
        """The party_id holding `role` for `mpxn` at `at`, or None."""
        if role not in ROLE_TABLE:
            raise ValueError(f"role must be one of {sorted(ROLE_TABLE)}, not {role!r}")
        t = to_us(at)
        row = self._one("SELECT party FROM registration WHERE mpxn = ? AND role = ? AND effective_from <= ? "
                        "AND (effective_to IS NULL OR effective_to > ?) "
                        "ORDER BY effective_from DESC, rec DESC LIMIT 1", (mpxn, role, t, t))
        return row[0] if row else None

    def import_supplier(self, mpan: str, at: datetime) -> str | None:
        return self.registered(mpan, "import_supplier", at)

    def electricity_distributor(self, mpan: str, at: datetime) -> str | None:
        return self.registered(mpan, "electricity_distributor", at)

    def gas_supplier(self, mprn: str, at: datetime) -> str | None:
        return self.registered(mprn, "gas_supplier", at)

    def gas_transporter(self, mprn: str, at: datetime) -> str | None:
        return self.registered(mprn, "gas_transporter", at)

    def change_within(self, mpxn: str, role: str, at: datetime, days: float = 7) -> bool:
        """Whether the party holding `role` changes at any instant of (at, at + days]."""
        if role not in ROLE_TABLE:
            raise ValueError(f"role must be one of {sorted(ROLE_TABLE)}, not {role!r}")
        t0 = to_us(at)
        t1 = t0 + round(days * DAY_US)
        rows = self._all("SELECT party, effective_from, effective_to, rec FROM registration "
                         "WHERE mpxn = ? AND role = ? AND effective_from <= ? "
                         "AND (effective_to IS NULL OR effective_to > ?)", (mpxn, role, t1, t0))

        def party_at(t: int) -> str | None:  # same rule as registered(): latest start wins
            live = [(s, rec, p) for p, s, e, rec in rows if s <= t and (e is None or e > t)]
            return max(live)[2] if live else None

        edges = {s for _, s, _, _ in rows if t0 < s <= t1} | {e for _, _, e, _ in rows
                                                               if e is not None and t0 < e <= t1}
        current = party_at(t0)
        return any(party_at(t) != current for t in edges)

    def supplier_change_within(self, mpxn: str, at: datetime, days: float = 7) -> bool:
        """Steps 5.10.10 / 5.10.15: a change of Import Supplier (MPAN) or Gas Supplier (MPRN)
        within (at, at + days]; see the module docstring for the boundaries."""
        return any(self.change_within(mpxn, role, at, days) for role in SUPPLIER_ROLES)

    # ------------------------------------------------------------ parties (Clause 2, 5.8)

    def party(self, party_id: str) -> Party | None:
        row = self._one("SELECT party_id, name, party_type, party_signifier, affiliate_group FROM party "
                        "WHERE party_id = ? ORDER BY rec LIMIT 1", (party_id,))
        return Party(*row) if row else None

    def party_of(self, entity_identifier: str | None) -> Party | None:
        """The Party an Entity Identifier (EUI-64 User ID) belongs to; None if unknown or null."""
        eui = _eui(entity_identifier)
        if eui is None:
            return None
        row = self._one("SELECT p.party_id, p.name, p.party_type, p.party_signifier, p.affiliate_group "
                        "FROM party_entity e JOIN party p ON p.party_id = e.party "
                        "WHERE e.entity_id = ? ORDER BY e.rec, p.rec LIMIT 1", (eui,))
        return Party(*row) if row else None

    def supplier_signifier(self, entity_identifier: str | None) -> str | None:
        """Clause 2 'Supplier Signifier': the Party Signifier of the Supplier Party the Entity
        Identifier identifies (None when unknown or not a Supplier Party)."""
        p = self.party_of(entity_identifier)
        return p.party_signifier if p is not None and p.party_type == "supplier" else None

    def same_party(self, a: str | None, b: str | None, *, affiliates: bool = False) -> bool:
        """Whether two Entity Identifiers identify the same Party.

        A null or unknown identifier identifies no Party, so the answer is False.  With
        affiliates=True, Parties recorded in the same affiliate_group also count (Clause
        5.8(iii) "or ... multiple Supplier Parties provided that they are all Affiliates");
        Table 5.10's "the same Supplier Party" is the default, strict reading.
        """
        pa, pb = self.party_of(a), self.party_of(b)
        if pa is None or pb is None:
            return False
        if pa.party_id == pb.party_id:
            return True
        return affiliates and pa.affiliate_group is not None and pa.affiliate_group == pb.affiliate_group

    # ------------------------------------------------------------ WAN contact (5.12(c))

    def last_wan_contact(self, chf: str, at: datetime | None = None) -> datetime | None:
        """The latest WAN communication with the Communications Hub whose CHF Device ID is
        `chf` (at or before `at`, when given)."""
        eui = _eui(chf)
        if eui is None:
            return None
        if at is None:
            row = self._one("SELECT max(contacted_at) FROM wan_contact WHERE chf = ?", (eui,))
        else:
            row = self._one("SELECT max(contacted_at) FROM wan_contact WHERE chf = ? AND contacted_at <= ?",
                            (eui, to_us(at)))
        return from_us(row[0]) if row else None

    def wan_contact_within(self, chf: str, at: datetime, days: float = 7) -> bool:
        """Clause 5.12(c): one or more WAN communications in [at - days, at]."""
        last = self.last_wan_contact(chf, at)
        return last is not None and to_us(last) >= to_us(at) - round(days * DAY_US)

    # ------------------------------------------------------------ certificates

    def certificate_id(self, name: str) -> CertificateId | None:
        """The Certificate ID of the certificate the world names `name`."""
        row = self._one("SELECT issuer_key, serial FROM world_certificate WHERE name = ? ORDER BY rec LIMIT 1",
                        (name,))
        if row is None:
            return None
        # Rebuilt from the stored DER, not from display text, so the issuer Name is exact.
        return next((r.cert_id for r in self.registry.find_by_serial(row[1]) if r.cert_id.issuer_key == row[0]),
                    None)

    def certificate_names(self) -> list[str]:
        return [n for (n,) in self._all("SELECT name FROM world_certificate WHERE name IS NOT NULL ORDER BY rec")]
