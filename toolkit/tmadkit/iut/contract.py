"""The implementation-under-test contract, version 1 (described for people in CONTRACT.md).

An implementation plays *roles*; each role has *operations* the scenario steps call.  It
declares the roles, GroupIDs and TMAD versions it supports, and a scenario outside that
declaration is reported *not applicable* with the reason, never as passed.  Everything that
decides applicability lives here, so the three adapters and the test packs agree on it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import InputError

CONTRACT_VERSION = "1"

# Table 5.9 is applied by four parties (5.9, 5.20, 5.22, 6.1); each is its own role because an
# implementation is usually one of them, and the witness says which one it is testing.
AUTHENTICATOR_ROLES = ("Authenticator:DCC", "Authenticator:DCO", "Authenticator:S1SP",
                       "Authenticator:Commissioning Party")
# A party's own obligations (how it signs, names and counts its files, what it sends), judged
# from facts about what it did: the rule's actor is the role.
PARTY_ROLES = ("DCC", "DCO", "S1SP", "Commissioning Party", "Requesting Party", "Supplier Party")
SMI_ROLE = "SMI"
# Declared so that implementations can say they play it, but no scenario drives it yet:
# the MVF emitter (issue 4) does not exist.  Scenarios needing it would be not applicable.
NOT_YET_ROLES = ("DCC Common Validation",)
ROLES = (*AUTHENTICATOR_ROLES, *PARTY_ROLES, SMI_ROLE, *NOT_YET_ROLES)
IMPLEMENTED_ROLES = tuple(r for r in ROLES if r not in NOT_YET_ROLES)

# Operations, by the shape of what the scenario gives the implementation.
AUTHENTICATE = "authenticate"   # a real signed file -> accepted, or rejected at a Table 5.9 step
APPLY = "apply"                 # witness facts -> a rule's verdict (in-process only: facts are ours)
SMI_APPLY = "smi_apply"         # SMI setup and events -> outcomes and the SMI after (in-process only)

ANSWER_KEYS = {"accepted", "failure"}
FAILURE_KEYS = {"step", "rule", "clause", "message"}


class IUTError(Exception):
    """The implementation did not answer: it crashed, timed out or said something unreadable.
    Reported as an *error* on the scenario, with what it did say as the actual output."""

    def __init__(self, message: str, output: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.output = dict(output or {})


@dataclass(frozen=True)
class Declaration:
    name: str
    roles: tuple[str, ...] = ROLES
    group_ids: tuple[str, ...] | None = None       # None: every GroupID
    tmad_versions: tuple[str, ...] | None = None   # None: every TMAD version tmadkit has a catalogue of

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str, default_name: str) -> "Declaration":
        unknown = set(data) - {"name", "roles", "group_ids", "tmad_versions", "contract"}
        if unknown:
            raise InputError(f"unknown declaration keys {sorted(unknown)}", file=where)
        if str(data.get("contract", CONTRACT_VERSION)) != CONTRACT_VERSION:
            raise InputError(f"declares contract {data['contract']!r}; tmadkit speaks {CONTRACT_VERSION!r}", file=where)
        roles = tuple(data.get("roles", AUTHENTICATOR_ROLES))
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise InputError(f"unknown roles {bad}; the contract's roles are {list(ROLES)}", file=where)
        groups = data.get("group_ids")
        versions = data.get("tmad_versions")
        return cls(str(data.get("name", default_name)), roles, tuple(groups) if groups is not None else None,
                   tuple(str(v) for v in versions) if versions is not None else None)

    @classmethod
    def read(cls, path: Path, default_name: str) -> "Declaration":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the implementation's declaration: {exc}", file=str(path)) from None
        if not isinstance(data, dict):
            raise InputError("a declaration is a JSON object", file=str(path))
        return cls.from_mapping(data, where=str(path), default_name=default_name)

    def to_dict(self) -> dict:
        return {"contract": CONTRACT_VERSION, "name": self.name, "roles": list(self.roles),
                "group_ids": list(self.group_ids) if self.group_ids is not None else None,
                "tmad_versions": list(self.tmad_versions) if self.tmad_versions is not None else None}


@dataclass(frozen=True)
class ScenarioNeeds:
    """What one scenario (a rule and one of its witnesses) asks of an implementation."""

    rule_id: str
    title: str
    role: str
    operation: str
    document: str
    versions: tuple[str, ...] = ()     # TMAD versions the rule applies to (sources.rule_versions); () for AC
    group_ids: tuple[str, ...] | None = None


def needs(rule, facts: Mapping[str, Any] | None, *, smi: bool, describes_file: bool,
          versions: tuple[str, ...] = ()) -> ScenarioNeeds:
    if smi:
        role, op = SMI_ROLE, SMI_APPLY
    elif rule.actor == "Authenticator":
        role = f"Authenticator:{(facts or {}).get('authenticator', 'DCC')}"
        op = AUTHENTICATE if describes_file else APPLY
    else:
        role, op = rule.actor, APPLY
    groups = rule.applies_to.get("group_ids")
    if facts and isinstance(facts.get("group_id"), str):
        groups = [facts["group_id"]]
    return ScenarioNeeds(rule.id, rule.title, role, op, rule.document, tuple(versions),
                         tuple(groups) if groups else None)


def not_applicable(n: ScenarioNeeds, decl: Declaration, *, target_version: str | None,
                   operations: Iterable[str], adapter: str) -> str | None:
    """Why the scenario cannot be run against this implementation, or None if it can."""
    if n.role not in decl.roles:
        return (f"{decl.name} does not declare the role {n.role!r} (it declares {', '.join(decl.roles) or 'none'}); "
                f"rule {n.rule_id} is a check on the {n.role}")
    if n.document == "TMAD":
        declared = decl.tmad_versions if decl.tmad_versions is not None else n.versions
        wanted = [target_version] if target_version else list(declared)
        if target_version and decl.tmad_versions is not None and target_version not in decl.tmad_versions:
            return f"{decl.name} declares TMAD {', '.join(decl.tmad_versions)}, not {target_version}"
        if not set(wanted) & set(n.versions):
            return (f"rule {n.rule_id} applies to TMAD {', '.join(n.versions) or 'no catalogued version'}; "
                    f"the run is for TMAD {', '.join(wanted)}")
    if n.group_ids and decl.group_ids is not None and not set(n.group_ids) & set(decl.group_ids):
        return (f"rule {n.rule_id} concerns GroupID {', '.join(n.group_ids)}; {decl.name} declares "
                f"{', '.join(decl.group_ids) or 'no GroupIDs'}")
    if n.operation not in set(operations):
        what = {AUTHENTICATE: "authenticates a received file",
                APPLY: f"checks {n.title[0].lower() + n.title[1:]} from facts, not from a file",
                SMI_APPLY: "drives the Smart Metering Inventory with events"}[n.operation]
        return f"rule {n.rule_id} {what}; the {adapter} adapter drives {_drives(operations)}"
    return None


def _drives(operations: Iterable[str]) -> str:
    ops = set(operations)
    parts = [p for op, p in ((AUTHENTICATE, "Authenticators with files"), (APPLY, "rules with facts"),
                             (SMI_APPLY, "the SMI with events")) if op in ops]
    return " and ".join(parts) or "nothing"


def refusal(data: Any, where: str) -> str | None:
    """Why the implementation refused to judge the request (`{"error": why}`, the file exchange's
    way of saying at once that no verdict will come), or None if `data` is not a refusal."""
    if not isinstance(data, dict) or "error" not in data:
        return None
    why = data["error"]
    if not isinstance(why, str) or not why.strip() or set(data) & ANSWER_KEYS:
        raise IUTError(f"{where}: a refusal is {{\"error\": \"why\"}}, a non-empty reason and no verdict",
                       {"answer": data})
    return why


def check_answer(data: Any, where: str) -> dict:
    """An Authenticator's answer, as the contract defines it; IUTError if it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("accepted"), bool):
        raise IUTError(f"{where}: the answer is not a JSON object with a boolean \"accepted\"", {"answer": data})
    failure = data.get("failure")
    if data["accepted"]:
        if failure not in (None, {}):
            raise IUTError(f"{where}: an accepted file has no failure", {"answer": data})
        return {"accepted": True, "failure": None}
    if not isinstance(failure, dict) or not isinstance(failure.get("step"), str):
        raise IUTError(f"{where}: a rejection must name the Table 5.9 step in failure.step", {"answer": data})
    return {"accepted": False, "failure": {k: failure[k] for k in FAILURE_KEYS if failure.get(k) is not None}}
