"""The SMI model: apply an event to a Device, perform the transition or refuse it with the clause.

Bad input never raises and never changes a status silently: an unknown event, sender or
Device, a sender the clause does not allow, or a state a refusal forbids each gives a refused
Outcome naming the rule and clauses.  Timer and CPL events that nothing applies to leave the
Device unchanged.  The clock is injectable (`Clock`), so the 12-month expiry is tested at its
boundaries without waiting a year.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable

from . import facts as F
from .model import NON_REQUEST_KINDS, SENDERS, Machine, SMIRule
from .model import load as load_machine
from .store import Device, Store


class Clock:
    """A settable clock (the engine never reads the wall clock unless given one)."""

    def __init__(self, now: datetime | str = "2024-01-01T00:00:00+00:00"):
        self.set(now)

    def set(self, now: datetime | str) -> None:
        self._now = parse_time(now)

    def __call__(self) -> datetime:
        return self._now


def parse_time(value: datetime | str) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return dt


def add_months(dt: datetime, months: int) -> datetime:
    """Calendar months: 31 January + 1 month = 28/29 February (the last day of a short month)."""
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    return dt.replace(year=year, month=month, day=min(dt.day, calendar.monthrange(year, month)[1]))


@dataclass
class Outcome:
    result: str                              # transitioned | refused | unchanged
    device: str
    event: str
    status: str                              # the Device's status afterwards
    rule: str | None = None                  # the transition performed, or the refusal that forbids
    clauses: list[str] = field(default_factory=list)
    refused_by: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    detail: str = ""
    step: dict = field(default_factory=dict)  # the step facts a generated check reads

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Engine:
    def __init__(self, machine: Machine | None = None, store: Store | None = None,
                 clock: Callable[[], datetime] | None = None, readings: dict[str, str] | None = None):
        self.machine = machine or load_machine()
        self.store = store or Store()
        self.clock = clock or Clock()
        self.readings = {**self.machine.default_readings(),
                         **{q: self.machine.reading_of(rid) for q, rid in (readings or {}).items()}}
        self._months = self.machine.elapsed_months_used()

    # --- which rules speak ---------------------------------------------------------------------
    def active(self, rule: SMIRule) -> bool:
        """A disputed rule acts only when its reading is the one chosen for its question."""
        return not rule.disputed or self.readings.get(rule.disputed["question"]) == self.machine.reading_of(rule.id)

    def choose(self, rule_id: str) -> None:
        rule = next(r for r in self.machine.rules if r.id == rule_id)
        if not rule.disputed:
            raise ValueError(f"{rule_id} is not a disputed reading")
        self.readings[rule.disputed["question"]] = self.machine.reading_of(rule_id)

    # --- setup -----------------------------------------------------------------------------------
    def add(self, device: str, type_: str, status: str, prior: str | None = None,
            associated: list[str] | tuple = (), since: str | None = None, mpxn: str | None = None,
            smets1: bool = False) -> None:
        """Put a Device in the SMI as it stands (scenario setup), without an event."""
        at = since or self.clock().isoformat()
        with self.store.transaction():
            self.store.put(Device(device, type_, status, prior, mpxn, None, at, at, smets1=smets1))
            for other in associated:
                self.store.associate(device, other)

    # --- events ------------------------------------------------------------------------------------
    def apply(self, event: str, device: str, by: str, params: dict | None = None) -> Outcome:
        params = dict(params or {})
        dev = self.store.get(device)
        status = dev.status if dev else self.machine.initial
        ev = self.machine.event(event)
        if ev is None:
            return self._refuse(device, event, by, status, None, [], [], f"unknown event {event!r}", {})
        if by not in SENDERS:
            return self._refuse(device, event, by, status, None, [], [], f"unknown sender {by!r}", {})
        step = self.step_facts(ev, device, dev, by, params)
        refusals = [r for r in self.machine.refusals
                    if self.active(r) and event in r.spec["events"] and F.evaluate(r.applies_to["when"], step).ok]
        if refusals:
            first = refusals[0]
            return self._refuse(device, event, by, status, first.id, first.clause_ids, [r.id for r in refusals],
                                first.title, step)
        candidates = [t for t in self.machine.transitions if self.active(t) and t.spec["event"] == event]
        chosen = next((t for t in candidates if F.evaluate(t.applies_to["when"], step).ok), None)
        if chosen is not None:
            return self._perform(chosen, device, dev, by, params, step)
        for t in candidates:   # would it apply from an allowed sender?  Then the sender is the fault.
            if F.evaluate(t.applies_to["when"], _with(step, "event.by", t.spec["by"][0])).ok:
                return self._refuse(device, event, by, status, t.id, t.clause_ids, [t.id],
                                    f"{by} may not send this; {t.id} allows {', '.join(t.spec['by'])}", step)
        if ev["kind"] in NON_REQUEST_KINDS:
            return self._record(Outcome(F.UNCHANGED, device, event, status,
                                        detail=f"no transition for {event} from {status}"), by, step)
        clauses = list(dict.fromkeys(c for t in candidates for c in t.clause_ids))
        why = (f"{device} is not in the Smart Metering Inventory" if dev is None else
               f"no transition for {event} from '{status}' for a {dev.type}")
        return self._refuse(device, event, by, status, None, clauses, [], why, step)

    def tick(self, now: datetime | str | None = None) -> list[Outcome]:
        """Move the clock (if given) and fire timer events for every Device they may apply to."""
        if now is not None:
            if not isinstance(self.clock, Clock):
                raise ValueError("the engine's clock is not settable")
            self.clock.set(now)
        out = []
        timers = [e["id"] for e in self.machine.events if e["kind"] == "timer"]
        for d in self.store.devices():
            for ev in timers:
                o = self.apply(ev, d.id, "DCC")
                if o.result == F.TRANSITIONED:
                    out.append(o)
        return out

    # --- facts ---------------------------------------------------------------------------------------
    def step_facts(self, ev: dict, device_id: str, dev: Device | None, by: str, params: dict) -> dict:
        now = self.clock()
        device: dict[str, Any] = {"id": device_id, "type": dev.type if dev else params.get("type"),
                                  "status": dev.status if dev else self.machine.initial,
                                  "prior_status": dev.prior_status if dev else None,
                                  # what the SMI recorded when the Device was added, whatever this event says
                                  "smets1": bool(dev and dev.smets1)}
        if dev is not None:
            since = parse_time(dev.status_since)
            for n in self._months:
                device[F.elapsed_fact(n).split(".", 1)[1]] = now >= add_months(since, n)
        event = {"name": ev["id"], "by": by, **{k: v for k, v in params.items() if isinstance(v, bool)}}
        return {"event": event, "device": device, "chf": self._context(self._chf_of(device_id, dev, params)),
                "target": self._context(params.get("target"))}

    def _chf_of(self, device_id: str, dev: Device | None, params: dict) -> str | None:
        if params.get("chf"):
            return params["chf"]
        if dev is not None and dev.type == "CHF":
            return device_id
        for other in self.store.associated(device_id) if dev else []:
            o = self.store.get(other)
            if o and o.type == "CHF":
                return other
            # a Device joined to a meter belongs to the meter's Smart Metering System
            for second in self.store.associated(other):
                s = self.store.get(second)
                if s and s.type == "CHF":
                    return second
        return None

    def _context(self, device_id: str | None) -> dict:
        d = self.store.get(device_id) if device_id else None
        return {"id": device_id, "status": d.status if d else self.machine.initial, "type": d.type if d else None}

    # --- doing ---------------------------------------------------------------------------------------
    def _new_status(self, rule: SMIRule, old: Device | None) -> tuple[str, str | None]:
        spec, status = rule.spec, old.status if old else self.machine.initial
        prior = old.prior_status if old else None
        if spec.get("restore_prior"):
            return (prior or status), None
        new = spec.get("to", status)
        if self.machine.remembers(new):
            return new, (prior if self.machine.remembers(status) else status)
        return new, (prior if new == status else None)

    def _perform(self, rule: SMIRule, device_id: str, dev: Device | None, by: str, params: dict,
                 step: dict) -> Outcome:
        at = self.clock().isoformat()
        new, prior = self._new_status(rule, dev)
        alerts: list[str] = []
        if dev is None and not params.get("type"):
            return self._refuse(device_id, rule.spec["event"], by, self.machine.initial, rule.id, rule.clause_ids,
                                [], "the event does not give the Device Type of the Device to add", step)
        with self.store.transaction():
            # A cascade reaches the Devices Associated before the event: the same event may end
            # those Associations (Decommission Device ends them and decommissions the CHF's GPF).
            before = self.store.associated(device_id) if dev is not None else []
            if dev is None:
                records = self.machine.event(rule.spec["event"]).get("records", [])
                recorded = {name: params.get(name) is True for name in records}
                # a way of adding that only such Devices may take records it whatever the event says
                # (TMAD 3.3 adds SMETS1 Devices); before the other effects, so the companion gets it too
                recorded.update({e["record"]: True for e in rule.spec.get("effects", []) if "record" in e})
                dev = Device(device_id, params["type"], new, prior, None, by, at, at, **recorded)
            # replace(), not a new Device: what the SMI recorded when it was added stays recorded
            dev = replace(dev, status=new, prior_status=prior,
                          status_since=at if dev.status != new else dev.status_since)
            self.store.put(dev)
            for eff in rule.spec.get("effects", []):
                self._effect(eff, dev, step, params, at, alerts, before)
            if any("remove" in e for e in rule.spec.get("effects", [])):
                new = self.machine.initial
        out = Outcome(F.TRANSITIONED, device_id, rule.spec["event"], new, rule.id, rule.clause_ids,
                      effects=list(dict.fromkeys(F.effect_token(e) for e in rule.spec.get("effects", []))),
                      alerts=alerts, detail=rule.title)
        return self._record(out, by, step)

    def _effect(self, eff: dict, dev: Device, step: dict, params: dict, at: str, alerts: list[str],
                before: list[str]) -> None:
        s = self.store
        if "alert" in eff:
            s.alert(at, dev.id, eff["alert"], eff.get("to"))
            alerts.append(eff["alert"])
        elif "notify" in eff:
            s.alert(at, dev.id, "notify", eff["notify"])
        elif "associate" in eff:
            other = step[eff["associate"]]["id"]
            if other and s.get(other):
                s.associate(dev.id, other)
        elif "dissociate" in eff:
            if eff["dissociate"] == "all":
                s.dissociate_all(dev.id)
            elif step["target"]["id"]:
                s.dissociate(dev.id, step["target"]["id"])
        elif "record_mpxn" in eff:
            s.put(replace(dev, mpxn=params.get("mpxn")))
        elif "record" in eff:
            pass    # recorded when the Device was created (_perform), so add_companion copies it
        elif "remove" in eff:
            s.delete(dev.id)
        elif "add_companion" in eff:
            cid = params.get(eff["add_companion"].lower()) or f"{dev.id}-{eff['add_companion']}"
            # the GPF is part of the same Communications Hub: what is recorded for the CHF holds for it
            s.put(replace(dev, id=cid, type=eff["add_companion"], prior_status=None, mpxn=None, added_at=at,
                          status_since=at))
            s.associate(dev.id, cid)
        elif "cascade" in eff:
            # A cascade stays within the Device's group: the Communications Hub's GPF follows its
            # CHF (AC 2.4, 2.5: they are added and kept together); a meter joined to a GPF does
            # not carry it along.
            if self.machine.device_type(dev.type)["group"] != self.machine.device_type(eff["cascade"])["group"]:
                return
            new = eff.get("status", dev.status)
            for other in dict.fromkeys([*before, *s.associated(dev.id)]):
                o = s.get(other)
                if o and o.type == eff["cascade"] and o.status != new and o.status in eff.get("from", [o.status]):
                    prior = (o.prior_status if self.machine.remembers(o.status) else o.status) \
                        if self.machine.remembers(new) else None
                    s.put(replace(o, status=new, prior_status=prior, status_since=at))

    def _refuse(self, device, event, by, status, rule, clauses, refused_by, detail, step) -> Outcome:
        return self._record(Outcome(F.REFUSED, device, event, status, rule, list(clauses), list(refused_by),
                                    detail=detail), by, step)

    def _record(self, out: Outcome, by: str, step: dict) -> Outcome:
        out.step = {**step, "outcome": {"result": out.result, "status": step.get("device", {}).get("status")
                                        if out.result != F.TRANSITIONED else out.status,
                                        "effects": " ".join(out.effects)}} if step else {}
        if out.result == F.TRANSITIONED:
            out.step["outcome"]["status"] = out.status
        with self.store.transaction():
            self.store.record(self.clock().isoformat(), out.device, out.event, by, out.result,
                              step.get("device", {}).get("status") if step else None, out.status, out.rule,
                              out.clauses)
        return out


def _with(step: dict, path: str, value: Any) -> dict:
    head, tail = path.split(".", 1)
    return {**step, head: {**step.get(head, {}), tail: value}}
