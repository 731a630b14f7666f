"""Step definitions for the generated features.

The steps are deliberately few and generic: a rule's witness facts, the actor applying
the rule, and the verdict with the clause's failure outcome.  What varies per clause
lives in the generated feature (tags, Examples), not in Python.
"""
from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from .cells import facts_from_table


@given(parsers.parse('the facts of witness "{witness}":'), target_fixture="tmadkit_facts")
def witness_facts(witness: str, datatable, tmadkit_scenario_record):
    facts = facts_from_table(datatable)
    tmadkit_scenario_record["witness"] = witness
    tmadkit_scenario_record["facts"] = facts
    return facts


@when(parsers.parse('the {actor} applies rule "{rule_id}"'), target_fixture="tmadkit_verdict")
def apply_rule(actor: str, rule_id: str, tmadkit_facts, tmadkit_iut, tmadkit_scenario_record):
    tmadkit_scenario_record.update(rule=rule_id, actor=actor)
    verdict = tmadkit_iut.apply(actor, rule_id, tmadkit_facts)
    tmadkit_scenario_record["actual"] = verdict.to_dict()
    return verdict


@then(parsers.parse('the verdict is "{verdict}" with outcome "{outcome}"'))
def verdict_is(verdict: str, outcome: str, tmadkit_verdict, tmadkit_scenario_record):
    tmadkit_scenario_record["expected"] = {"status": verdict, "outcome": outcome}
    actual = tmadkit_verdict
    assert actual.status == verdict, (
        f"rule {actual.rule}: expected {verdict}, implementation says {actual.status}: {actual.detail}")
    if verdict == "fail":
        got = actual.outcome.action if actual.outcome else "none"
        assert got == outcome, f"rule {actual.rule}: failure reported as {got}, the clause requires {outcome}"
