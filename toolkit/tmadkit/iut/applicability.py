"""Which scenarios apply to an implementation, and the markers that let a team select them.

The plugin asks before a scenario's first step; the test packs ask the same questions, so a
scenario left out of a pack and a scenario reported not applicable have the same reason.
"""
from __future__ import annotations

from functools import lru_cache

from . import contract


@lru_cache(maxsize=1)
def _rules() -> dict:
    from ..rules import load_all

    return load_all().by_id()


@lru_cache(maxsize=None)
def rule_versions(rule_id: str) -> tuple[str, ...]:
    """TMAD versions a rule applies to; () for other documents (Appendix AC has its own versions)."""
    from .. import sources

    rule = _rules()[rule_id]
    return tuple(sources.rule_versions(rule)) if rule.document == "TMAD" else ()


def witness_facts(rule, witness_id: str | None) -> dict | None:
    for w in rule.witnesses:
        if w.id == witness_id:
            return w.facts
    return None


def scenario_needs(rule_id: str, witness_id: str | None, *, smi: bool) -> contract.ScenarioNeeds:
    from ..authentication.witness import describes_file

    rule = _rules()[rule_id]
    facts = witness_facts(rule, witness_id)
    return contract.needs(rule, facts, smi=smi, describes_file=bool(facts) and describes_file(facts),
                          versions=rule_versions(rule_id))


def reason(adapter, rule_id: str, witness_id: str | None, *, smi: bool, target_version: str | None) -> str | None:
    if rule_id not in _rules():
        return None   # not a rule this checkout knows: let the scenario run and say so
    n = scenario_needs(rule_id, witness_id, smi=smi)
    return contract.not_applicable(n, adapter.declaration, target_version=target_version,
                                   operations=adapter.operations, adapter=adapter.kind)


def markers(rule_id: str) -> list[str]:
    """`group_XX` for GroupID-restricted rules (the features carry clause, actor and
    @tmad-version-X tags already; GroupIDs live in applies_to, not in a tag)."""
    rule = _rules().get(rule_id)
    return ["group_" + g for g in (rule.applies_to.get("group_ids") or [])] if rule else []
