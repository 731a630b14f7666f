"""Every witness gets the verdict it expects from the generated check of its rule."""
from __future__ import annotations

import pytest

from tmadkit import registry
from tmadkit.authentication.witness import evaluate
from tmadkit.rules import load_all

from tmadkit.mutation import witness_cases

CASES = [(r, w, v, e) for r in load_all() if r.testable for w, v, e in witness_cases(r)]


def test_every_testable_rule_has_a_passing_and_a_failing_witness():
    for rule in load_all():
        if rule.testable:
            expects = set().union(*(w.verdicts for w in rule.witnesses))
            assert {"pass", "fail"} <= expects, rule.id


@pytest.mark.parametrize("rule, witness, version, expect", CASES,
                         ids=[f"{r.id}/{w.id}" + (f"@{v}" if v else "") for r, w, v, e in CASES])
def test_witness_verdict(rule, witness, version, expect):
    verdict = evaluate(registry.check(rule.id), witness.facts, version)
    assert verdict.status == expect, verdict.detail
    if verdict.status == "fail":
        assert verdict.outcome.action == rule.outcome["action"]
        assert verdict.outcome.text == rule.outcome["text"]
    assert set(verdict.clauses) == set(rule.clause_ids)
