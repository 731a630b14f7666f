"""Results of primitives and verdicts of rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, NOT_APPLICABLE, ERROR = "pass", "fail", "not_applicable", "error"


# Result and Verdict are values nobody changes after creating them; they are slotted rather
# than frozen because a large MCF creates millions of them and a frozen dataclass's __init__
# costs three times as much.
@dataclass(slots=True)
class Result:
    """What a primitive found: whether the predicate holds and why, in words.

    ``evidence`` is what a FailedCheck's SupportingData reports (TMAD Table 5.10): None, or
    {"device_id": EUI}, {"certificate": {"issuer", "serial"}} or {"certificate_pair": [critical,
    non_critical]}.  Only a failing result's evidence reaches the Verdict.
    """

    ok: bool
    detail: str
    evidence: dict | None = None

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Outcome:
    """The consequence of failure, exactly as the clause states it."""

    action: str                      # e.g. "discard_file_raise_incident", "response_code", "failed_check"
    text: str                        # the clause's own words
    clause: str | None = None        # where those words are
    step: str | None = None          # Table 5.9 step, Table 5.10 StepNumber, ...
    response_code: str | None = None
    response_code_name: str | None = None
    response_code_type: str | None = None
    critical: bool | None = None
    supporting_data: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(slots=True)
class Verdict:
    rule: str
    status: str                      # PASS, FAIL, NOT_APPLICABLE, ERROR
    detail: str
    outcome: Outcome | None = None   # set when status is FAIL
    clauses: tuple[str, ...] = field(default=())
    evidence: dict | None = None     # SupportingData of a failure (Result.evidence)

    @classmethod
    def of(cls, rule: str, result: Result, outcome: Outcome, clauses: tuple[str, ...] = ()) -> "Verdict":
        if result.ok:
            return cls(rule, PASS, result.detail, None, clauses)
        return cls(rule, FAIL, result.detail, outcome, clauses, result.evidence)

    @classmethod
    def not_applicable(cls, rule: str, why: str, clauses: tuple[str, ...] = ()) -> "Verdict":
        return cls(rule, NOT_APPLICABLE, why, None, clauses)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"rule": self.rule, "status": self.status, "detail": self.detail,
                             "clauses": list(self.clauses)}
        if self.outcome is not None:
            d["outcome"] = self.outcome.to_dict()
        if self.evidence is not None:
            d["evidence"] = self.evidence
        return d
