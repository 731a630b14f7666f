"""A World with memory: the same answers as tmadkit.world.World, asked fewer times.

One MCF has few distinct Device Models, certificates and Parties but one MPxN and seven
DeviceIDs per installation.  Answers about the former are memoised for the run; the latter
are fetched in batches (`prefetch`) for a block of installations, one query per table
instead of one per Device.  Registration answers for the block are computed from its rows
with the same rules as World.registered and World.change_within (periods [from, to), the
latest start wins, the look-ahead (at, at + days]); tests/test_common_validation.py checks
the two agree.

Everything is keyed by the check time, so one CachedWorld serves one check time.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

from ..world.store import DAY_US, ROLE_TABLE, World, _eui, to_us


class _CachedRegistry:
    def __init__(self, registry):
        self._r = registry
        self.confirm_validity = lru_cache(maxsize=4096)(registry.confirm_validity)
        for kind in ("critical_supplier", "non_critical_supplier", "critical_network_operator",
                     "non_critical_network_operator"):
            name = f"{kind}_id"
            setattr(self, name, lru_cache(maxsize=4096)(getattr(registry, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._r, name)


def _hashable(models: dict) -> tuple:
    return tuple(sorted((k, tuple(v)) for k, v in models.items()))


class CachedWorld:
    """Wraps a World for one run; `prefetch(installations)` before checking a block of them."""

    def __init__(self, world: World):
        self.world = world
        self.registry = _CachedRegistry(world.registry)
        self._cpl = lru_cache(maxsize=4096)(world.cpl_lookup)
        self._group = lru_cache(maxsize=4096)(world.group_allows)
        self._epc = lru_cache(maxsize=1024)(lambda key: world.epc_matches(dict(key)))
        self.party_of = lru_cache(maxsize=4096)(world.party_of)
        self._same = lru_cache(maxsize=4096)(world.same_party)
        self._smi: set[str] | None = None          # DeviceIDs of the block that are in the SMI
        self._block_ids: set[str] = set()
        self._regs: dict[tuple[str, str], list] = {}   # (MPxN, role) -> the block's registration rows
        self._block_mpxns: set[str] = set()
        self._euis: dict[str, str] = {}
        # Results of pure computations for this run (runtime.common_validation._memo).
        self.memo: dict[tuple, object] = {}

    # -- memoised look-ups --------------------------------------------------------

    def cpl_lookup(self, manufacturer: str, model: str, firmware: str | None):
        return self._cpl(manufacturer, model, firmware)

    def group_allows(self, group_id: str, device_model: Any, device_type: str | None = None) -> bool:
        return self._group(group_id, tuple(device_model), device_type)

    def epc_matches(self, models_by_device_type: dict, group_id=None, dormant_or_active=None):
        if group_id is not None or dormant_or_active is not None:
            return self.world.epc_matches(models_by_device_type, group_id, dormant_or_active)
        return self._epc(_hashable(models_by_device_type))

    def same_party(self, a, b, *, affiliates: bool = False) -> bool:
        return self._same(a, b, affiliates=affiliates)

    # -- per-block batches ----------------------------------------------------------

    def prefetch(self, installations: Iterable[dict]) -> None:
        """Fetch SMI membership and Registration Data for these installations' Devices and MPxNs."""
        ids, mpxns = set(), set()
        self._euis = {}                            # DeviceID as written -> normalised EUI-64
        for inst in installations:
            for dev in inst.values():
                if isinstance(dev, dict):
                    raw = dev.get("device_id")
                    eui = _eui(raw)
                    if eui is not None:
                        ids.add(eui)
                        self._euis[raw] = eui
                    for key in ("mpan", "mprn"):
                        if dev.get(key):
                            mpxns.add(dev[key])
        db = self.world._db
        self._block_ids = ids
        self._smi = set()
        for chunk in _chunks(sorted(ids), 900):
            rows = db.execute(f"SELECT device_id FROM smi WHERE device_id IN ({','.join('?' * len(chunk))})", chunk)
            self._smi.update(r[0] for r in rows)
        # The registrations of this block's MPxNs, grouped by (MPxN, role), answered in memory
        # below with the World's own rules (checked against the World by the tests).
        self._regs = {}
        for chunk in _chunks(sorted(mpxns), 900):
            rows = db.execute("SELECT mpxn, role, party, effective_from, effective_to, rec FROM registration "
                              f"WHERE mpxn IN ({','.join('?' * len(chunk))})", chunk)
            for mpxn, role, party, start, end, rec in rows:
                self._regs.setdefault((mpxn, role), []).append((party, start, end, rec))
        self._block_mpxns = mpxns

    def in_smi(self, device_id: str) -> bool:
        eui = self._euis.get(device_id) or _eui(device_id)
        if self._smi is not None and eui in self._block_ids:
            return eui in self._smi
        return self.world.in_smi(device_id)

    @staticmethod
    def _party_at(rows, t: int) -> str | None:
        # World.registered: periods [effective_from, effective_to); the latest start wins.
        live = [(start, rec, party) for party, start, end, rec in rows if start <= t and (end is None or end > t)]
        return max(live)[2] if live else None

    def registered(self, mpxn: str, role: str, at: datetime):
        if mpxn not in self._block_mpxns or role not in ROLE_TABLE:
            return self.world.registered(mpxn, role, at)
        return self._party_at(self._regs.get((mpxn, role), ()), _us(at))

    def change_within(self, mpxn: str, role: str, at: datetime, days: float = 7) -> bool:
        # World.change_within: does the party at any instant of (at, at + days] differ from the
        # party at `at`?  Only the period edges inside the window can change it.
        if mpxn not in self._block_mpxns or role not in ROLE_TABLE:
            return self.world.change_within(mpxn, role, at, days)
        t0 = _us(at)
        t1 = t0 + round(days * DAY_US)
        rows = [r for r in self._regs.get((mpxn, role), ()) if r[1] <= t1 and (r[2] is None or r[2] > t0)]
        edges = {s for _, s, _, _ in rows if t0 < s <= t1} | {e for _, _, e, _ in rows
                                                               if e is not None and t0 < e <= t1}
        current = self._party_at(rows, t0)
        return any(self._party_at(rows, t) != current for t in edges)

    def __getattr__(self, name: str) -> Any:
        # Everything not worth caching (WAN contacts, certificate names, ...) goes straight through.
        return getattr(self.world, name)

    def close(self) -> None:
        self._regs = {}
        self.memo = {}


@lru_cache(maxsize=64)
def _us(at: datetime) -> int:
    return to_us(at)    # one check time per run, asked twice per MPxN


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]
