"""lint: clean on the repository; suspect, unknown and duplicate rules are named."""
from __future__ import annotations

import json
from pathlib import Path

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
    _edit_catalogue_text(project_copy, clause, at_end=True)   # outside the quoted words
    assert main(["lint"]) == 1
    capsys.readouterr()
    assert main(["review", "--rule", "TMAD-T5.7-MCF-creator"]) == 0
    assert "TMAD:5.6" in capsys.readouterr().out
    assert main(["lint"]) == 0


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
