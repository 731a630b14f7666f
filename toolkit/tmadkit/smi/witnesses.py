"""Witnesses derived from a transition or refusal: step facts with the verdict they must get.

For every value a rule's applicability names (each from-state, device type, sender, guard
status) there is a passing witness where that value holds; for every value a negated condition
names, a not-applicable witness; and a failing witness where the DCC does the wrong thing (a
transition refused, a refusal ignored).  That set kills every constant mutant of the generated
check (`tmadkit mutate`), and each passing witness is also a Gherkin example the engine must
reproduce, so the data, the generated check and the engine are held to one another.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from ..runtime.facts import unflatten
from . import facts as F

_GROUP_STATUS = {"type-2": "no-status"}


def _domain(machine, fact: str) -> list[Any]:
    if fact == "event.name":
        return [e["id"] for e in machine.events]
    if fact.endswith(".status") or fact == "device.prior_status":
        return machine.state_ids
    if fact.endswith(".type"):
        return [d["id"] for d in machine.device_types]
    if fact == "event.by":
        from .model import SENDERS
        return list(SENDERS)
    return [True, False]


def _solutions(machine, pred: dict, want: bool) -> list[dict]:
    """Flat fact assignments under which `pred` evaluates to `want` (each listed value covered)."""
    (name, args), = pred.items()
    if name == "not":
        return _solutions(machine, args, not want)
    if name in ("all", "any"):
        conj = (name == "all") == want          # every child must take `want`
        if conj:
            per_child = [_solutions(machine, a, want) for a in args]
            if any(not s for s in per_child):
                return []
            base: dict = {}
            for s in per_child:
                base.update(s[0])
            out = [base]
            for s in per_child:
                for alt in s[1:]:
                    out.append({**base, **alt})
            return out
        # one child decides; the others take the opposite where they can
        out = []
        others_false = {}
        for a in args:
            s = _solutions(machine, a, not want)
            if s:
                others_false.update(s[0])
        for a in args:
            for s in _solutions(machine, a, want):
                out.append({**others_false, **s})
        return out
    if name == "equals":
        fact, value = args["fact"], args["value"]
        if want:
            return [{fact: value}]
        other = next((v for v in _domain(machine, fact) if v != value), None)
        return [{fact: other}] if other is not None else []
    if name == "one_of":
        fact, values = args["fact"], args["values"]
        if want:
            return [{fact: v} for v in values]
        other = next((v for v in _domain(machine, fact) if v not in values), None)
        return [{fact: other}] if other is not None else []
    raise ValueError(f"cannot derive witnesses for primitive {name!r}")


def _complete(machine, rule, flat: dict) -> dict:
    """Fill in what the rule does not constrain but a realistic step has."""
    spec = rule.spec
    events = [spec["event"]] if "event" in spec else spec["events"]
    flat.setdefault("event.name", events[0])
    natural = [t for t in machine.transitions if t.spec["event"] == flat["event.name"]]
    if "device.type" not in flat:
        types = spec.get("device_types") or (natural[0].spec["device_types"] if natural else ["ESME"])
        flat["device.type"] = types[0]
    if "device.status" not in flat:
        dt = machine.device_type(flat["device.type"])
        fitting = [t for t in natural if flat["device.type"] in t.spec["device_types"]]
        flat["device.status"] = (fitting[0].spec["from"][0] if fitting else
                                 _GROUP_STATUS.get(dt["group"] if dt else "", "pending"))
    if "event.by" not in flat:
        flat["event.by"] = natural[0].spec["by"][0] if natural else "Responsible Supplier"
    if machine.remembers(flat["device.status"]) and "device.prior_status" not in flat:
        flat["device.prior_status"] = "installed-not-commissioned"
    return flat


def _outcome(machine, rule, flat: dict, correct: bool) -> dict:
    from .model import REFUSAL

    status = flat.get("device.status")
    if rule.kind == REFUSAL:
        if correct:
            return {"outcome.result": F.REFUSED, "outcome.status": status, "outcome.effects": ""}
        other = next(s for s in machine.state_ids if s != status)
        return {"outcome.result": F.TRANSITIONED, "outcome.status": other, "outcome.effects": ""}
    if not correct:
        return {"outcome.result": F.REFUSED, "outcome.status": status, "outcome.effects": ""}
    spec = rule.spec
    if "to" in spec:
        new = spec["to"]
    elif spec.get("restore_prior"):
        new = flat.get("device.prior_status")
    else:
        new = status
    tokens = " ".join(dict.fromkeys(F.effect_token(e) for e in spec.get("effects", [])))
    return {"outcome.result": F.TRANSITIONED, "outcome.status": new, "outcome.effects": tokens}


def _unique(items: Iterable[dict]) -> list[dict]:
    seen, out = set(), []
    for flat in items:
        key = json.dumps(flat, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(flat)
    return out


def derive(machine, rule) -> list[dict]:
    """Witnesses (id, expect, facts) for one SMIRule; each is checked against its own predicates."""
    when = rule.applies_to["when"]
    out: list[dict] = []
    passing = []
    for flat in _unique(_solutions(machine, when, True)):
        flat = _complete(machine, rule, dict(flat))
        if rule.spec.get("restore_prior"):
            flat.setdefault("device.prior_status", "installed-not-commissioned")
        if F.evaluate(when, unflatten(flat)).ok:
            passing.append(flat)
    for i, flat in enumerate(_unique(passing), 1):
        out.append({"id": f"pass-{i}", "expect": "pass",
                    "facts": unflatten({**flat, **_outcome(machine, rule, flat, True)})})
    if passing:
        out.append({"id": "fail", "expect": "fail",
                    "description": "the DCC refuses where it must transition" if rule.kind == "transition"
                    else "the DCC changes the status where it must refuse",
                    "facts": unflatten({**passing[0], **_outcome(machine, rule, passing[0], False)})})
    n = 0
    for flat in _unique(_solutions(machine, when, False)):
        flat = _complete(machine, rule, dict(flat))
        if F.evaluate(when, unflatten(flat)).ok:
            continue
        n += 1
        out.append({"id": f"na-{n}", "expect": "not_applicable",
                    "facts": unflatten({**flat, "outcome.result": F.UNCHANGED, "outcome.status": flat["device.status"],
                                        "outcome.effects": ""})})
    return out
