"""Every witness gets the verdict it expects from the generated check of its rule."""
from __future__ import annotations

import pytest

from tmadkit import registry
from tmadkit.authentication.witness import evaluate
from tmadkit.rules import load_all

CASES = [(r, w) for r in load_all() if r.testable for w in r.witnesses]


def test_every_testable_rule_has_a_passing_and_a_failing_witness():
    for rule in load_all():
        if rule.testable:
            expects = {w.expect for w in rule.witnesses}
            assert {"pass", "fail"} <= expects, rule.id


@pytest.mark.parametrize("rule, witness", CASES, ids=[f"{r.id}/{w.id}" for r, w in CASES])
def test_witness_verdict(rule, witness):
    verdict = evaluate(registry.check(rule.id), witness.facts)
    assert verdict.status == witness.expect, verdict.detail
    if verdict.status == "fail":
        assert verdict.outcome.action == rule.outcome["action"]
        assert verdict.outcome.text == rule.outcome["text"]
    assert set(verdict.clauses) == set(rule.clause_ids)
