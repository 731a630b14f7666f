"""lint: clean on the repository; suspect, unknown and duplicate rules are named."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tmadkit import sources
from tmadkit.cli import main
from tmadkit.lint import lint
from tmadkit.rules import load_all


def test_repository_is_lint_clean():
    files, findings = lint(sources.current_catalogues())
    assert files and findings == []


def _edit_catalogue_text(root: Path, clause_id: str, at_end: bool = False) -> None:
    """Change one character of a clause's text: its first 'a', or (at_end) its last character."""
    path = root / "spec" / "catalogue" / "TMAD" / "5.1.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for e in data["entries"]:
        if e["id"] == clause_id:
            e["text"] = e["text"][:-1] + "!" if at_end else e["text"].replace("a", "á", 1)
            break
    else:
        raise AssertionError(clause_id)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")


def test_changing_one_character_makes_exactly_the_citing_rules_suspect(project_copy: Path, capsys):
    clause = "TMAD:T5.5/Migration Common File"
    citing = sorted(r.id for r in load_all() if clause in r.clause_ids)
    assert citing == ["TMAD-T5.5-MCF-accept", "TMAD-T5.5-MCF-sign"]
    _edit_catalogue_text(project_copy, clause)
    assert main(["lint", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    suspect = sorted(f["rule"] for f in report["findings"] if f["code"] == "suspect")
    assert suspect == citing
    assert {f["clause"] for f in report["findings"] if f["code"] == "suspect"} == {clause}


def test_review_clears_suspect_after_the_quote_still_matches(project_copy: Path, capsys):
    clause = "TMAD:5.6"   # quoted by several Table 5.7 rules through one YAML anchor
    citing = sorted(r.id for r in load_all() if clause in r.clause_ids)
    assert len(citing) > 1
    _edit_catalogue_text(project_copy, clause, at_end=True)   # outside the quoted words
    assert main(["lint"]) == 1
    capsys.readouterr()
    # one rule alone would clear the others unread: refused, naming them
    assert main(["review", "--rule", "TMAD-T5.7-MCF-creator"]) == 2
    err = capsys.readouterr().err
    assert "shared (a YAML anchor)" in err and all(r in err for r in citing)
    assert main(["lint"]) == 1
    assert main(["review", *[a for r in citing for a in ("--rule", r)]]) == 0
    assert "TMAD:5.6" in capsys.readouterr().out
    assert main(["lint"]) == 0


def test_reviewing_one_rule_leaves_another_citing_the_same_clause_suspect(project_copy: Path, capsys):
    clause = "TMAD:T10.2/Migration Common File"   # cited by two rules, each with its own citation
    assert sorted(r.id for r in load_all() if clause in r.clause_ids) == ["TMAD-T10.2-MCF", "TMAD-T10.2-MCF-supplier"]
    _edit_catalogue_text(project_copy, clause, at_end=True)
    assert main(["review", "--rule", "TMAD-T10.2-MCF"]) == 0
    assert "1 citation(s) updated" in capsys.readouterr().out
    assert main(["lint", "--json"]) == 1
    suspect = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["code"] == "suspect"]
    assert [(f["rule"], f["clause"]) for f in suspect] == [("TMAD-T10.2-MCF-supplier", clause)]


def test_unknown_clause_fails_lint_and_names_the_rule(project_copy: Path, capsys):
    path = project_copy / "rules" / "tmad" / "table-5.5.yaml"
    path.write_text(path.read_text().replace('"TMAD:T5.5/Migration Group File"', '"TMAD:T5.5/Migration Grup File"'))
    assert main(["lint"]) == 1
    out = capsys.readouterr().out
    assert "unknown-clause" in out and "TMAD-T5.5-MGF-accept cites TMAD:T5.5/Migration Grup File" in out


def test_duplicate_rule_ids_fail_lint(project_copy: Path, capsys):
    src = project_copy / "rules" / "tmad" / "table-8.7.2.yaml"
    (project_copy / "rules" / "tmad" / "copy.yaml").write_text(src.read_text())
    assert main(["lint"]) == 1
    assert "duplicate-id: rule id TMAD-T8.7.1-E48 is also defined at rules/tmad/" in capsys.readouterr().out


@pytest.mark.parametrize("names", ["TMAD-T16.7-16.7.9-dco", "TMAD-T12.7-12.7.1-chf-key", "TMAD-T16.7-16.7.2-dco"])
def test_a_reading_shared_by_tmad_rules_must_name_a_rule_stating_a_reading_of_its_question(project_copy: Path,
                                                                                              capsys, names):
    # no such rule; a rule of another question; a rule that is itself part of a reading.  A procedure that
    # chooses a reading runs the rules naming it, so a wrong name would apply or drop a reading unseen
    path = project_copy / "rules" / "tmad" / "table-16.7.yaml"
    text = path.read_text()
    old = "same_reading_as: TMAD-T16.7-16.7.1-dco}"
    assert text.count(old) == 4
    path.write_text(text.replace(old, f"same_reading_as: {names}}}", 1))     # the first is 16.7.2's
    assert main(["lint"]) == 1
    out = capsys.readouterr().out
    assert f"unknown-reading: TMAD-T16.7-16.7.2-dco: same_reading_as names {names}, which does not state a reading " \
           "of table-16-7-actor" in out, out


def test_a_quote_that_is_not_verbatim_fails_lint(project_copy: Path, capsys):
    path = project_copy / "rules" / "tmad" / "table-8.7.2.yaml"
    path.write_text(path.read_text().replace('quote: "Commission Device | 8.1 | 8.1.1"', 'quote: "Commission Device | 8.1 | 8.1.2"'))
    assert main(["lint"]) == 1
    assert "quote-mismatch" in capsys.readouterr().out


def test_review_refuses_when_the_quoted_words_changed(project_copy: Path, capsys):
    _edit_catalogue_text(project_copy, "TMAD:5.6")   # inside the quoted words
    assert main(["review", "--rule", "TMAD-T5.7-MCF-creator"]) == 2
    assert "rules/tmad/table-5.7.yaml:24 [TMAD:5.6]: cannot review: the quote is not verbatim" in capsys.readouterr().err
    assert main(["lint"]) == 1


def test_a_version_without_values_or_witness_verdicts_fails_lint(project_copy: Path, capsys):
    import re

    path = project_copy / "rules" / "tmad" / "clause-5.16.yaml"
    text, n = re.subn(r'"5\.1": [a-z0-9_]+, ', "", path.read_text(encoding="utf-8"))   # TMAD 5.1 forgotten
    assert n > 5
    path.write_text(text, encoding="utf-8")
    assert main(["lint", "--json"]) == 1
    gaps = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["code"] == "version-gap"]
    messages = " | ".join(f["message"] for f in gaps)
    assert ("TMAD-5.16-served-within-timer applies to TMAD 5.1 but states no timer_hours for it "
            "(it states 5.0, 6.1F)") in messages
    assert "TMAD-5.16-served-within-timer-FOC applies to TMAD 5.1 but no witness states a verdict for it" in messages
    assert all(f["file"] == "rules/tmad/clause-5.16.yaml" and f["line"] for f in gaps)


def test_a_predicates_leaves_are_its_primitives_in_order_through_every_combinator():
    from tmadkit.runtime.primitives import leaves

    pred = {"all": [{"present": {"fact": "a"}},
                    {"not": {"any": [{"equals": {"fact": "b", "value": 1}}, {"all": []}]}},
                    {"elapsed_months": 3}]}
    assert list(leaves(pred)) == [("present", {"fact": "a"}), ("equals", {"fact": "b", "value": 1}),
                                  ("elapsed_months", 3)]
    assert list(leaves({"any": []})) == []
