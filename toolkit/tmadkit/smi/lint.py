"""Structural checks of a state machine that its JSON Schema cannot express.

- undefined-state / undefined-event: a transition, refusal or guard names a state or event the
  machine does not define;
- unreachable-state: no chain of transitions leads to it from the initial state;
- ambiguous-transition: two transitions fire on the same event, from the same state, for the same
  Device type and sender, and no guard tells them apart (rival readings of one dispute excepted:
  only one of them is ever in force); guards that pair facts (the Device's type with its
  target's) are told apart by trying the values of the facts they name;
- evidence-mismatch: a quote from an uncatalogued source (the BAD) is not on the line it names;
- unknown-rule: a path scenario covers or follows a rule the machine does not have;
- unrecorded-param: an event records a parameter it does not have;
- record-not-adding: a transition's `record` effect on a Device it does not add (a from-state other
  than the initial one): what the SMI records is fixed when the Device is added.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .. import paths
from ..runtime.primitives import leaves

EVIDENCE_SOURCES = {"BAD": "spec/sources/BAD-v2.0-2018-05-17.txt"}
_TAG = re.compile(r"<[^>]+>")


@lru_cache(maxsize=None)
def _source_lines(rel: str) -> tuple[str, ...]:
    return tuple((paths.root() / rel).read_text(encoding="utf-8").splitlines())


def _norm(text: str) -> str:
    return " ".join(_TAG.sub("", text).split())


def _guard_states(g: dict) -> list[str]:
    return [s for name, arg in leaves(g) if name == "status_in" for s in arg["states"]]


def _literals(g: dict | None) -> dict[str, tuple[set | None, set]]:
    """{fact: (allowed values or None, excluded values)} of a guard's top-level conjunction."""
    out: dict[str, tuple[set | None, set]] = {}

    def add(fact, pos=None, neg=None):
        p, n = out.get(fact, (None, set()))
        if pos is not None:
            p = set(pos) if p is None else p & set(pos)
        out[fact] = (p, n | set(neg or ()))

    def walk(x, positive=True):
        (name, arg), = x.items()
        if name == "all" and positive:
            for y in arg:
                walk(y)
        elif name == "not":
            walk(arg, not positive)
        elif name in ("status_in", "type_in", "param", "recorded", "sender_in", "elapsed_months"):
            fact, values = {
                "status_in": lambda: (f"{arg['of']}.status", arg["states"]),
                "type_in": lambda: (f"{arg['of']}.type", arg["types"]),
                "param": lambda: (f"event.{arg}", [True]),
                "recorded": lambda: (f"device.{arg}", [True]),
                "sender_in": lambda: ("event.by", arg),
                "elapsed_months": lambda: (f"elapsed.{arg}", [True]),
            }[name]()
            add(fact, pos=values) if positive else add(fact, neg=values)
    if g:
        walk(g)
    return out


def exclusive(a: dict | None, b: dict | None) -> bool:
    la, lb = _literals(a), _literals(b)
    for fact in set(la) & set(lb):
        (pa, na), (pb, nb) = la[fact], lb[fact]
        if pa is not None and pb is not None and not (pa & pb):
            return True
        if pa is not None and pa <= nb or pb is not None and pb <= na:
            return True
    return False


_JOINT_LIMIT = 20000     # assignments tried before two guards are taken to overlap


def _guard_facts(pred: dict) -> list[str]:
    return list(dict.fromkeys(args["fact"] for _, args in leaves(pred)))


def jointly_satisfiable(machine, a: dict | None, b: dict | None, device_types) -> bool:
    """Whether some step satisfies both guards, trying every value of the facts they name (a guard
    that pairs the Device's type with its target's, which the literal test cannot see through). Too
    many combinations to try counts as satisfiable: lint then reports the pair for a person to read."""
    from itertools import product

    from ..runtime.facts import unflatten
    from . import facts as F
    from .witnesses import _domain

    if not a or not b:
        return True
    pa, pb = F.guard_predicate(a), F.guard_predicate(b)
    names = _guard_facts({"all": [pa, pb]})
    domains = [sorted(device_types) if n == "device.type" else _domain(machine, n) for n in names]
    size = 1
    for d in domains:
        size *= len(d)
    if size > _JOINT_LIMIT:
        return True
    for values in product(*domains):
        facts = unflatten(dict(zip(names, values)))
        if F.evaluate(pa, facts).ok and F.evaluate(pb, facts).ok:
            return True
    return False


def findings(machine) -> list:
    from ..lint import Finding

    out: list[Finding] = []
    states = set(machine.state_ids)
    events = {e["id"] for e in machine.events}

    def f(code, line, msg, rule=None):
        out.append(Finding(code, machine.file, line, msg, rule))

    if machine.initial not in states:
        f("undefined-state", 1, f"initial state {machine.initial!r} is not defined")
    for r in machine.rules:
        spec = r.spec
        named = [*spec.get("from", []), *([spec["to"]] if "to" in spec else []),
                 *_guard_states(spec.get("guard") or spec.get("when") or {"all": []}),
                 *(st for e in spec.get("effects", []) for st in [*e.get("from", []), *([e["status"]] if "status" in e else [])])]
        for s in dict.fromkeys(named):
            if s not in states:
                f("undefined-state", r.line, f"{r.id} names state {s!r}, which the state machine does not define", r.id)
        for e in ([spec["event"]] if "event" in spec else spec.get("events", [])):
            if e not in events:
                f("undefined-event", r.line, f"{r.id} names event {e!r}, which the state machine does not define", r.id)
        for ev in spec.get("evidence", []):
            rel = EVIDENCE_SOURCES[ev["source"]]
            lines = _source_lines(rel)
            text = lines[ev["line"] - 1] if 0 < ev["line"] <= len(lines) else ""
            if _norm(ev["quote"]) not in _norm(text):
                f("evidence-mismatch", r.line, f"{r.id}: the {ev['source']} quote is not on line {ev['line']} of {rel}", r.id)
    # reachability: forward edges, plus "back to the prior status" (a prior is a state already reached)
    reached, frontier = {machine.initial}, [machine.initial]
    while frontier:
        s = frontier.pop()
        for t in machine.transitions:
            if s in t.spec["from"] and t.spec.get("to") in states and t.spec["to"] not in reached:
                reached.add(t.spec["to"])
                frontier.append(t.spec["to"])
    for s in machine.state_ids:
        if s not in reached:
            f("unreachable-state", 1, f"state {s!r} cannot be reached from {machine.initial!r} by any transition")
    ts = machine.transitions
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            sa, sb = a.spec, b.spec
            if sa["event"] != sb["event"]:
                continue
            if not (set(sa["from"]) & set(sb["from"]) and set(sa["device_types"]) & set(sb["device_types"])
                    and set(sa["by"]) & set(sb["by"])):
                continue
            if a.disputed and b.disputed and a.disputed["question"] == b.disputed["question"]:
                continue
            common_types = set(sa["device_types"]) & set(sb["device_types"])
            if not exclusive(sa.get("guard"), sb.get("guard")) and \
                    jointly_satisfiable(machine, sa.get("guard"), sb.get("guard"), common_types):
                common = sorted(set(sa["from"]) & set(sb["from"]))
                f("ambiguous-transition", b.line,
                  f"{a.id} and {b.id} both fire on {sa['event']} from {', '.join(common)} with no guard to tell them apart",
                  b.id)
    for t in machine.transitions:
        if any("record" in e for e in t.spec.get("effects", [])) and set(t.spec["from"]) != {machine.initial}:
            f("record-not-adding", t.line, f"{t.id} records a fact for a Device it does not add "
              f"(from {', '.join(t.spec['from'])}, not only {machine.initial})", t.id)
    for e in machine.events:
        for name in sorted(set(e.get("records", [])) - set(e.get("params", []))):
            f("unrecorded-param", 1, f"event {e['id']} records {name!r}, which is not one of its params")
    ids = {r.id for r in machine.rules}
    for sc in machine.scenarios:
        for rid in [*sc["covers"], *sc.get("readings", [])]:
            if rid not in ids:
                f("unknown-rule", 1, f"scenario {sc['id']} names rule {rid}, which the state machine does not have")
    return out


def lint_files(rule_files) -> list:
    """Findings for every loaded rule file that has a state machine."""
    from .generate import _machines
    from ..rules import RuleSet

    out = []
    for _, machine in _machines(RuleSet(list(rule_files))):
        out.extend(findings(machine))
    return out
