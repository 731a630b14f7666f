"""Run a rule file's `procedure` (Table 5.9) over one input: in order, stopping at the first failure.

The order, the scope of each step and the reading applied where the TMAD is disputed are all
data (rules/tmad/table-5.9.yaml); this module only executes them with the generated checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Mapping

from .. import registry as checks_registry
from ..errors import TmadkitError
from ..rules import Rule, RuleSet, load_all
from ..runtime.verdict import FAIL, NOT_APPLICABLE, PASS, Verdict


@dataclass
class StepResult:
    step: str
    rule: str
    status: str
    detail: str
    clauses: list[str]
    outcome: dict | None = None

    def to_dict(self) -> dict:
        d = {"step": self.step, "rule": self.rule, "status": self.status, "detail": self.detail,
             "clauses": self.clauses}
        if self.outcome:
            d["outcome"] = self.outcome
        return d


@dataclass
class ProcedureResult:
    procedure: str
    accepted: bool
    steps: list[StepResult] = field(default_factory=list)
    failure: StepResult | None = None
    readings: dict[str, dict] = field(default_factory=dict)   # question -> applied rule and its rivals


@dataclass
class Procedure:
    id: str
    title: str
    stop_at_first_failure: bool
    steps: list[dict]
    readings: dict[str, str]
    rules: dict[str, Rule]

    @classmethod
    def load(cls, procedure_id: str, ruleset: RuleSet | None = None) -> "Procedure":
        ruleset = ruleset or load_all()
        for rf in ruleset.files:
            if rf.procedure and rf.procedure["id"] == procedure_id:
                p = rf.procedure
                return cls(p["id"], p["title"], p["stop_at_first_failure"], p["steps"],
                           p.get("readings", {}), ruleset.by_id())
        raise TmadkitError(f"no procedure {procedure_id!r} in rules/")

    def _not_applied(self, rule: Rule) -> bool:
        """A disputed rule whose question this procedure answers with another reading."""
        if not rule.disputed:
            return False
        applied = self.readings.get(rule.disputed["question"])
        return applied is not None and applied != rule.reading

    def plan(self, authenticator: str) -> list[tuple[str, Rule]]:
        """(step, rule) in the order the procedure applies them for this Authenticator."""
        out: list[tuple[str, Rule]] = []
        for step in self.steps:
            if "authenticators" in step and authenticator not in step["authenticators"]:
                continue
            for pattern in step["rules"]:
                for rid in sorted(r for r in self.rules if fnmatchcase(r, pattern)):
                    rule = self.rules[rid]
                    if rule.testable and not self._not_applied(rule):
                        out.append((step["step"], rule))
        return out

    def applied_readings(self) -> dict[str, dict]:
        """For each disputed question: the reading this procedure applies and the rules it does not."""
        return {question: {"applied": applied,
                           "not_applied": sorted(r.id for r in self.rules.values() if r.disputed
                                                 and r.disputed["question"] == question and r.reading != applied)}
                for question, applied in sorted(self.readings.items())}

    def run(self, facts: Mapping[str, Any], authenticator: str) -> ProcedureResult:
        result = ProcedureResult(self.id, accepted=True)
        result.readings.update(self.applied_readings())
        for step, rule in self.plan(authenticator):
            verdict: Verdict = checks_registry.check(rule.id)(facts)
            if verdict.status == NOT_APPLICABLE:
                continue
            sr = StepResult(step, rule.id, verdict.status, verdict.detail, list(verdict.clauses),
                            verdict.outcome.to_dict() if verdict.outcome else None)
            result.steps.append(sr)
            if verdict.status != PASS:
                result.accepted = False
                result.failure = result.failure or sr
                if self.stop_at_first_failure:
                    break
        return result


__all__ = ["Procedure", "ProcedureResult", "StepResult", "FAIL", "PASS"]
