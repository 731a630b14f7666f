"""Step definitions for the generated features.

The steps are deliberately few and generic: a rule's witness facts, the actor applying
the rule, and the verdict with the clause's failure outcome.  What varies per clause
lives in the generated feature (tags, Examples), not in Python.
"""
from __future__ import annotations

from dataclasses import dataclass

from pytest_bdd import given, parsers, then, when

from ..authentication.witness import describes_file
from ..iut import files
from ..iut.contract import IUTError
from .cells import facts_from_table


@dataclass
class FileAnswer:
    """An Authenticator's answer to a real file (an adapter that takes files was given one)."""

    request: files.AuthRequest
    answer: dict


@given(parsers.parse('the facts of witness "{witness}":'), target_fixture="tmadkit_facts")
def witness_facts(witness: str, datatable, tmadkit_scenario_record):
    facts = facts_from_table(datatable)
    tmadkit_scenario_record["witness"] = witness
    tmadkit_scenario_record["facts"] = facts
    return facts


@when(parsers.parse('the {actor} applies rule "{rule_id}"'), target_fixture="tmadkit_verdict")
def apply_rule(actor: str, rule_id: str, tmadkit_facts, tmadkit_iut, tmadkit_scenario_record):
    tmadkit_scenario_record.update(rule=rule_id, actor=actor)
    if describes_file(tmadkit_facts) and tmadkit_iut.takes_files:
        request = files.request_for(tmadkit_facts)
        tmadkit_scenario_record["request"] = request.envelope()
        answer = _answer(tmadkit_scenario_record, tmadkit_iut.authenticate, request)
        tmadkit_scenario_record["actual"] = files.summary(answer)
        return FileAnswer(request, answer)
    verdict = _answer(tmadkit_scenario_record, tmadkit_iut.apply, actor, rule_id, tmadkit_facts)
    tmadkit_scenario_record["actual"] = verdict.to_dict()
    return verdict


def _answer(record: dict, operation, *args, **kwargs):
    """The implementation's answer; if it did not give one, what it did say is the actual output."""
    try:
        return operation(*args, **kwargs)
    except IUTError as exc:
        # not an AssertionError: the plugin records it as an error, with what the implementation said
        record["actual"] = {"status": "error", "detail": str(exc), "output": exc.output}
        raise


@when(parsers.parse('the {actor} applies rule "{rule_id}" of {document} {version}'), target_fixture="tmadkit_verdict")
def apply_rule_of_version(actor: str, rule_id: str, document: str, version: str, tmadkit_facts, tmadkit_iut,
                          tmadkit_scenario_record):
    tmadkit_scenario_record.update(rule=rule_id, actor=actor, version=version)
    verdict = _answer(tmadkit_scenario_record, tmadkit_iut.apply, actor, rule_id, tmadkit_facts, version=version)
    tmadkit_scenario_record["actual"] = verdict.to_dict()
    return verdict


@then(parsers.parse('the verdict is "{verdict}" with outcome "{outcome}"'))
def verdict_is(verdict: str, outcome: str, tmadkit_verdict, tmadkit_scenario_record):
    tmadkit_scenario_record["expected"] = {"status": verdict, "outcome": outcome}
    if isinstance(tmadkit_verdict, FileAnswer):
        expected = files.expected_answer(tmadkit_verdict.request)
        tmadkit_scenario_record["expected"]["answer"] = expected
        if expected["accepted"] != (verdict != "fail"):
            # the witness and Table 5.9's procedure disagree: tmadkit's own data is wrong
            raise RuntimeError(f"witness expects {verdict}, but the procedure {'accepts' if expected['accepted'] else 'rejects'}"
                               " the file; fix the rule's witnesses or the procedure")
        problem = files.compare(tmadkit_scenario_record["rule"], expected, tmadkit_verdict.answer)
        assert problem is None, problem
        return
    actual = tmadkit_verdict
    assert actual.status == verdict, (
        f"rule {actual.rule}: expected {verdict}, implementation says {actual.status}: {actual.detail}")
    if verdict == "fail":
        got = actual.outcome.action if actual.outcome else "none"
        assert got == outcome, f"rule {actual.rule}: failure reported as {got}, the clause requires {outcome}"
