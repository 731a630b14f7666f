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
    """TMAD-5.6-step-any applies to MCF, MGF and MEF.  With witnesses for MGF only, nothing
    shows that MCF and MEF files are in scope: those mutants must survive, and be named."""
    from tmadkit.cli import main

    path = project_copy / "rules" / "tmad" / "table-5.7.yaml"
    text = path.read_text()
    weak = "".join(line for line in text.splitlines(keepends=True)
                   if "{id: mcf-gap," not in line and "{id: mef-gap," not in line)
    assert weak != text
    path.write_text(weak)
    assert main(["generate"]) == 0
    report = mutation.run(load_all(), only={"TMAD-5.6-step-any", "TMAD-5.6-step-one"})
    survivors = sorted((m.rule, m.description) for m in report.survivors)
    assert survivors == [
        ("TMAD-5.6-step-any", "one_of(values='MCF' -> 'MCF\u2020')"),
        ("TMAD-5.6-step-any", "one_of(values='MEF' -> 'MEF\u2020')"),
    ]
