"""Proof that every generated check can fail: its failing witness kills its negation."""
from __future__ import annotations

from tmadkit import mutation
from tmadkit.rules import load_all


def test_every_mutant_is_killed_by_the_witnesses():
    report = mutation.run(load_all())
    neg_killed, neg_total = report.count("negation")
    const_killed, const_total = report.count("constant")
    print(f"\nmutation: {report.rules} rules, {report.witnesses} witnesses; "
          f"negation {neg_killed}/{neg_total} killed; constants {const_killed}/{const_total} killed")
    assert neg_total == report.rules > 0
    assert neg_killed == neg_total, [m.rule for m in report.survivors if m.kind == "negation"]
    assert const_total > neg_total
    assert const_killed == const_total, [(m.rule, m.description) for m in report.survivors]


def test_a_witness_set_that_does_not_pin_its_check_is_reported(project_copy):
    """If the only failing witness breaks the Service Reference, nothing pins the Variant:
    the mutant that changes the required Variant must survive, and be reported."""
    from tmadkit.cli import main

    path = project_copy / "rules" / "tmad" / "table-8.7.2.yaml"
    text = path.read_text()
    weak = text.replace(
        'service_reference: "8.1", service_reference_variant: "8.1"}}}',
        'service_reference: "8.2", service_reference_variant: "8.1.1"}}}')
    assert weak != text
    path.write_text(weak)
    assert main(["generate"]) == 0
    report = mutation.run(load_all())
    survivors = [(m.rule, m.description) for m in report.survivors]
    assert ("TMAD-T8.7.2-commission-device", "equals(value='8.1.1' -> '8.1.1\u2020')") in survivors
    assert all(rule == "TMAD-T8.7.2-commission-device" for rule, _ in survivors)
