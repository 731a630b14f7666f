"""Consistency checks on a loaded world: what each record says about the others.

A malformed record never gets this far (load.py refuses it); these are records that are
each well-formed but contradict one another, and that would make a Table 5.10 check
give an answer the world's author did not intend: a registration naming a party that
does not exist, two registrations for the same MPxN at once, an EPC entry naming a
Device Model that is not on the CPL, a certificate whose Entity Identifier belongs to
no party.  Each finding names the file, the record and the field.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from .load import load_world
from .store import COMBINATION_SLOTS, NETWORK_ROLES, ROLE_TABLE, SUPPLIER_ROLES, World, from_us

_FOREVER = 2**62  # stands in for an open-ended effective_to in the overlap window


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    record: int
    field: str
    code: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file} record {self.record}, field {self.field}: {self.message} [{self.code}]"


class _Checker:
    def __init__(self, world: World):
        self.w = world
        self.files = world.sources()

    def f(self, table: str, rec: int, fld: str, code: str, message: str) -> Finding:
        return Finding(self.files.get(table, table), rec, fld, code, message)

    def q(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self.w._all(sql, params)

    def duplicates(self, table: str, sql_table: str, column: str, code: str, what: str) -> Iterator[Finding]:
        # Every repeat after the first, naming the first: one finding per extra record.
        for rec, value, first in self.q(
                f"SELECT rec, {column}, first_value(rec) OVER w FROM {sql_table} "
                f"WHERE {column} IS NOT NULL "
                f"WINDOW w AS (PARTITION BY {column} ORDER BY rec) ORDER BY rec"):
            if rec != first:
                yield self.f(table, rec, column, code, f"{what} {value!r} repeats record {first}")

    # ------------------------------------------------------------ parties

    def parties(self) -> Iterator[Finding]:
        yield from self.duplicates("parties", "party", "party_id", "duplicate-party", "party_id")
        yield from self.duplicates("parties", "party", "party_signifier", "duplicate-party-signifier",
                                   "Party Signifier")
        yield from self.duplicates("entity_ids", "party_entity", "entity_id", "duplicate-entity-id",
                                   "Entity Identifier")
        for rec, party in self.q("SELECT e.rec, e.party FROM party_entity e LEFT JOIN party p "
                                 "ON p.party_id = e.party WHERE p.party_id IS NULL ORDER BY e.rec"):
            yield self.f("entity_ids", rec, "party", "unknown-party", f"party {party!r} is not in parties")

    # ------------------------------------------------------------ Registration Data

    def registrations(self) -> Iterator[Finding]:
        for rec, role, party, ptype in self.q(
                "SELECT r.rec, r.role, r.party, p.party_type FROM registration r "
                "LEFT JOIN party p ON p.party_id = r.party "
                "WHERE p.party_id IS NULL OR (r.role IN (?, ?) AND p.party_type != 'supplier') "
                "OR (r.role IN (?, ?) AND p.party_type != 'network_operator') ORDER BY r.rec",
                (*SUPPLIER_ROLES, *NETWORK_ROLES)):
            table = ROLE_TABLE[role]
            if ptype is None:
                yield self.f(table, rec, "party", "unknown-party", f"party {party!r} is not in parties")
            else:
                need = "supplier" if role in SUPPLIER_ROLES else "network_operator"
                yield self.f(table, rec, "party", "wrong-party-type",
                             f"the {role} must be a {need} party; {party!r} is a {ptype} party")
        # Periods of one MPxN and role, in order of start: each must start at or after the
        # end of every one before ([from, to) periods; an open-ended one never ends).  The
        # window finds the overlapping rows cheaply; only those look up whom they overlap.
        for rec, mpxn, role, start in self.q(
                "SELECT rec, mpxn, role, effective_from FROM ("
                "  SELECT rec, mpxn, role, effective_from, max(coalesce(effective_to, ?)) OVER ("
                "    PARTITION BY mpxn, role ORDER BY effective_from, rec"
                "    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end"
                "  FROM registration) WHERE prev_end > effective_from ORDER BY rec", (_FOREVER,)):
            other, end = self.q(
                "SELECT rec, effective_to FROM registration WHERE mpxn = ? AND role = ? AND rec != ? "
                "AND effective_from <= ? AND (effective_to IS NULL OR effective_to > ?) "
                "ORDER BY effective_from, rec LIMIT 1", (mpxn, role, rec, start, start))[0]
            until = "open-ended" if end is None else f"until {from_us(end).isoformat()}"
            yield self.f(ROLE_TABLE[role], rec, "effective_from", "overlapping-registration",
                         f"{role} registration for {mpxn} from {from_us(start).isoformat()} overlaps "
                         f"record {other} ({until})")

    # ------------------------------------------------------------ products

    def products(self) -> Iterator[Finding]:
        for rec, m, mo, fw, t, first in self.q(
                "SELECT rec, manufacturer, model, firmware_version, device_type, first_value(rec) OVER w "
                "FROM cpl WINDOW w AS (PARTITION BY manufacturer, model, firmware_version, device_type "
                "ORDER BY rec) ORDER BY rec"):
            if rec != first:
                yield self.f("central_products", rec, "model", "duplicate-cpl-entry",
                             f"{t} {m}/{mo}/{fw} repeats record {first}")
        yield from self.duplicates("eligible_product_combinations", "epc", "epc_id", "duplicate-epc-id", "epc_id")
        for rec, first in self.q(
                "SELECT rec, first_value(rec) OVER w FROM epc WINDOW w AS "
                "(PARTITION BY combination, group_id, smso, meters, coalesce(csp, '') ORDER BY rec) ORDER BY rec"):
            if rec != first:
                # Clause 3.6: entries are separate only if they differ in SMSO or Dormant/Active scope.
                yield self.f("eligible_product_combinations", rec, "devices", "duplicate-epc-entry",
                             f"matches all the characteristics of record {first}")
        for rec, epc_id, devices in self.q("SELECT rec, epc_id, devices FROM epc ORDER BY rec"):
            for slot, m in _slots(devices):
                types = {e.device_type for e in self.w.cpl_lookup(*m)}
                if slot not in types:
                    on = f" (the CPL has it as {', '.join(sorted(types))})" if types else ""
                    yield self.f("eligible_product_combinations", rec, f"devices.{slot}", "epc-model-not-on-cpl",
                                 f"EPC entry {epc_id!r}: {slot} {'/'.join(m)} is not on the CPL as a {slot}{on}")
        for rec, group_id, combination in self.q(
                "SELECT g.rec, g.group_id, g.combination FROM group_combination g WHERE NOT EXISTS "
                "(SELECT 1 FROM epc e WHERE e.combination = g.combination AND e.group_id = g.group_id) "
                "ORDER BY g.rec"):
            # Clause 2: the list's combinations "are entries on the SMETS1 Eligible Product
            # Combinations list and form part of the same Group".
            yield self.f("group_combinations", rec, "devices", "group-combination-not-in-epc",
                         f"no EPC entry with GroupID {group_id} has this combination of Device Models")

    # ------------------------------------------------------------ inventory, certificates

    def inventory(self) -> Iterator[Finding]:
        yield from self.duplicates("smart_metering_inventory", "smi", "device_id", "duplicate-device-id",
                                   "Device ID")

    def certificates(self) -> Iterator[Finding]:
        for rec, fld, entity_id, issuer, serial in self.q(
                "SELECT c.rec, c.field, c.entity_id, c.issuer, c.serial FROM world_certificate c "
                "WHERE c.entity_id IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM party_entity e JOIN party p ON p.party_id = e.party "
                " WHERE e.entity_id = c.entity_id) ORDER BY c.rec"):
            yield self.f("certificates", rec, fld, "certificate-unknown-party",
                         f"certificate {issuer} #{serial}: Entity Identifier {entity_id} is no known party's")


def _slots(devices_json: str) -> Iterator[tuple[str, tuple[str, str, str]]]:
    for slot, m in json.loads(devices_json).items():
        if slot in COMBINATION_SLOTS:
            yield slot, tuple(m)


CHECKS: tuple[tuple[str, Callable[[_Checker], Iterator[Finding]]], ...] = (
    ("parties", _Checker.parties),
    ("registrations", _Checker.registrations),
    ("products", _Checker.products),
    ("inventory", _Checker.inventory),
    ("certificates", _Checker.certificates),
)


def check_world(world: World) -> list[Finding]:
    """Every inconsistency in a loaded world, sorted by file and record."""
    c = _Checker(world)
    return sorted(f for _, fn in CHECKS for f in fn(c))


def check_dir(world_dir: str | os.PathLike) -> list[Finding]:
    """Load a world directory into a temporary database and check it (InputError if malformed)."""
    with load_world(world_dir) as world:
        return check_world(world)
