"""The state machine of a rule file, and its transitions and refusals as Rules.

Each transition and refusal becomes an `SMIRule` (a `Rule` with its state-machine spec), so lint,
review, traceability, the report, the witness tests and `tmadkit mutate` treat them like any
other rule.  Its check reads step facts (smi/facts.py): `applies_to.when` says when the rule
speaks (event, device type, from-state, sender, guard), `predicate` what the DCC must then do.
Witnesses are derived from the spec (smi/witnesses.py), one per value each list names, so
every constant of the generated check is pinned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..rules import Citation, Rule, Witness
from ..runtime.primitives import leaves
from . import facts as F

TRANSITION, REFUSAL = "transition", "refusal"
NOT_COMPLIANT = "not_compliant"
# Event kinds that are not requests: where no transition applies the Device is simply unchanged.
NON_REQUEST_KINDS = ("timer", "cpl-update", "alert", "response")
SENDERS = ("DCC", "Responsible Supplier", "Other User", "Lead Supplier", "S1SP", "Commissioning Party",
           "Communications Hub Function", "Panel", "SMKI PMA")


@dataclass
class SMIRule(Rule):
    """A transition or refusal of a state machine, as a rule."""
    kind: str = TRANSITION
    spec: dict = field(default_factory=dict)


@dataclass
class Machine:
    id: str
    title: str
    initial: str
    states: list[dict]
    device_types: list[dict]
    events: list[dict]
    transitions: list[SMIRule]
    refusals: list[SMIRule]
    scenarios: list[dict]
    file: str

    @property
    def state_ids(self) -> list[str]:
        return [s["id"] for s in self.states]

    def state(self, sid: str) -> dict:
        return next(s for s in self.states if s["id"] == sid)

    def event(self, eid: str) -> dict | None:
        return next((e for e in self.events if e["id"] == eid), None)

    def device_type(self, tid: str) -> dict | None:
        return next((d for d in self.device_types if d["id"] == tid), None)

    @property
    def rules(self) -> list[SMIRule]:
        return [*self.transitions, *self.refusals]

    def remembers(self, sid: str) -> bool:
        return bool(next((s for s in self.states if s["id"] == sid), {}).get("remembers_prior"))

    def reading_of(self, rule_id: str) -> str:
        """The rule that names the reading `rule_id` is part of: itself, unless its reading needs
        several rules (`disputed.same_reading_as`), so following any of them follows them all."""
        rule = next((r for r in self.rules if r.id == rule_id), None)
        return rule.reading if rule is not None and rule.disputed else rule_id

    def default_readings(self) -> dict[str, str]:
        """For each disputed question, the reading of the first rule (file order) that encodes one.
        The engine needs one to act; scenarios for every reading name theirs explicitly."""
        out: dict[str, str] = {}
        for r in self.rules:
            if r.disputed:
                out.setdefault(r.disputed["question"], self.reading_of(r.id))
        return out

    def elapsed_months_used(self) -> list[int]:
        return sorted({arg for r in self.transitions if r.spec.get("guard")
                       for name, arg in leaves(r.spec["guard"]) if name == "elapsed_months"})


# --- spec -> predicates -----------------------------------------------------------------------

def applicability(kind: str, spec: dict) -> dict:
    """When the rule speaks, as a predicate over step facts."""
    parts: list[dict] = []
    if kind == TRANSITION:
        parts.append({"equals": {"fact": "event.name", "value": spec["event"]}})
        parts.append({"one_of": {"fact": "device.type", "values": list(spec["device_types"])}})
        parts.append({"one_of": {"fact": "device.status", "values": list(spec["from"])}})
        parts.append({"one_of": {"fact": "event.by", "values": list(spec["by"])}})
        if spec.get("guard"):
            parts.append(F.guard_predicate(spec["guard"]))
    else:
        parts.append({"one_of": {"fact": "event.name", "values": list(spec["events"])}})
        if spec.get("device_types"):
            parts.append({"one_of": {"fact": "device.type", "values": list(spec["device_types"])}})
        parts.append(F.guard_predicate(spec["when"]))
    return {"all": parts}


def result(kind: str, spec: dict) -> dict:
    """What the DCC must do where the rule speaks, as a predicate over the step's outcome."""
    if kind == REFUSAL:
        return {"all": [{"equals": {"fact": "outcome.result", "value": F.REFUSED}},
                        {"same_as": {"fact": "outcome.status", "other": "device.status"}}]}
    parts: list[dict] = [{"equals": {"fact": "outcome.result", "value": F.TRANSITIONED}}]
    if "to" in spec:
        parts.append({"equals": {"fact": "outcome.status", "value": spec["to"]}})
    elif spec.get("restore_prior"):
        parts.append({"same_as": {"fact": "outcome.status", "other": "device.prior_status"}})
    else:
        parts.append({"same_as": {"fact": "outcome.status", "other": "device.status"}})
    for token in dict.fromkeys(F.effect_token(e) for e in spec.get("effects", [])):
        parts.append({"matches": {"fact": "outcome.effects", "pattern": F.token_pattern(token)}})
    return {"all": parts}


def outcome_text(kind: str, spec: dict) -> str:
    if kind == REFUSAL:
        return "The DCC shall not act on the event: " + spec["title"]
    target = spec.get("to") or ("the status held before" if spec.get("restore_prior") else "its status unchanged")
    return f"The DCC shall set the SMI Status to {target}: {spec['title']}"


# --- loading --------------------------------------------------------------------------------------

def _rule(kind: str, spec: dict, document: str, rel: str, line: int) -> SMIRule:
    return SMIRule(
        id=spec["id"], title=spec["title"], document=document,
        clauses=[Citation(c["id"], c["fingerprint"], c["quote"]) for c in spec["clauses"]],
        actor=spec["actor"], testable=True, file=rel, line=line,
        applies_to={"when": applicability(kind, spec)},
        outcome={"action": NOT_COMPLIANT, "text": outcome_text(kind, spec)},
        predicate=result(kind, spec), witnesses=[], disputed=spec.get("disputed"), notes=spec.get("notes"),
        kind=kind, spec=spec)


def machine_from(data: dict, document: str, rel: str, line_for) -> Machine:
    """`line_for(path_tuple) -> int` gives source lines (rules._line_for over the file's index)."""
    from .witnesses import derive

    sm = data
    transitions = [_rule(TRANSITION, t, document, rel, line_for(("state_machine", "transitions", i)))
                   for i, t in enumerate(sm["transitions"])]
    refusals = [_rule(REFUSAL, r, document, rel, line_for(("state_machine", "refusals", i)))
                for i, r in enumerate(sm.get("refusals", []))]
    machine = Machine(id=sm["id"], title=sm.get("title", sm["id"]), initial=sm["initial"], states=sm["states"],
                      device_types=sm["device_types"], events=sm["events"], transitions=transitions,
                      refusals=refusals, scenarios=sm.get("scenarios", []), file=rel)
    for r in machine.rules:
        r.witnesses = [Witness(w["id"], w["expect"], w["facts"], w.get("description", "")) for w in derive(machine, r)]
    return machine


def rules_from(data: dict, document: str, rel: str, line_for) -> list[Rule]:
    """The hook rules.load_file calls: a file's state machine as rules (none without one)."""
    if "state_machine" not in data:
        return []
    return list(machine_from(data["state_machine"], document, rel, line_for).rules)


@lru_cache(maxsize=None)
def _load(path: str, mtime: float) -> Machine:
    import yaml

    from ..rules import _line_for, _line_index, _Loader, _relpath, load_file

    p = Path(path)
    rf = load_file(p)  # validates (schema) before we trust the data
    text = p.read_text(encoding="utf-8")
    lines = _line_index(yaml.compose(text, Loader=_Loader))
    data = yaml.load(text, Loader=_Loader)
    if "state_machine" not in data:
        raise ValueError(f"{_relpath(p)}: no state_machine")
    return machine_from(data["state_machine"], rf.document, rf.relpath, lambda path_: _line_for(lines, path_))


def load(path: Path | None = None) -> Machine:
    """The SMI state machine (rules/ac/smi.yaml unless told otherwise)."""
    from .. import paths

    p = Path(path) if path else paths.rules_dir() / "ac" / "smi.yaml"
    return _load(str(p.resolve()), p.stat().st_mtime)


def has_state_machine(rule_file) -> bool:
    return any(isinstance(r, SMIRule) for r in rule_file.rules)
