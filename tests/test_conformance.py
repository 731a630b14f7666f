"""`tmadkit conformance` end to end: run, report files, summary, clause ids in every export."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _reports import assert_junit_and_cucumber_agree, assert_valid_xunit2, cucumber_verdicts, junit_ids

from tmadkit import sources
from tmadkit.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["conformance", "--out", str(out)]) == 0
    return out


def test_report_files_are_written(run_dir: Path):
    for name in ("report.html", "report.md", "report.json", "results.json", "junit.xml", "cucumber.json"):
        assert (run_dir / name).stat().st_size > 0, name


def test_report_lists_every_clause_with_a_status(run_dir: Path):
    model = json.loads((run_dir / "report.json").read_text())
    listed = {c["id"] for c in model["clauses"]}
    for cat in sources.current_catalogues().values():
        for e in cat.counted():
            assert e.id in listed
    statuses = {c["status"] for c in model["clauses"]}
    assert statuses == {"checked", "not testable", "not yet encoded"}
    for c in model["clauses"]:
        if c["status"] == "not testable":
            assert c["reason"]


def test_every_scenario_passes_against_the_reference(run_dir: Path):
    model = json.loads((run_dir / "report.json").read_text())
    sc = model["summary"]["scenarios"]
    assert sc["total"] == model["summary"]["scenario_examples"] > 0
    assert sc["passed"] == sc["total"]
    for table in ("TMAD:T5.5", "TMAD:T5.7", "TMAD:T10.2", "TMAD:T8.7.2"):
        rows = [c for c in model["clauses"] if c["id"].startswith(table + "/")]
        assert rows and all(c["status"] == "checked" and c["result"] == "passed" for c in rows), table


def test_disputed_rules_are_shown(run_dir: Path):
    model = json.loads((run_dir / "report.json").read_text())
    questions = {d["question"] for d in model["disputes"]}
    assert {"mvf-creator", "counter-sequential-step", "cof-anti-replay"} <= questions
    html = (run_dir / "report.html").read_text()
    assert "Disputed readings" in html and "mvf-creator" in html


def test_junit_is_valid_xunit2_and_carries_rule_and_clause_ids(run_dir: Path):
    assert_valid_xunit2(run_dir)
    root = ET.parse(run_dir / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert cases
    for case in cases:
        ids = junit_ids(case)
        assert len(ids["rule"]) == 1 and ids["clause"] and ids["witness"], case.get("name")
    run = {p.get("name"): p.get("value") for p in root.find("testsuite").findall("./properties/property")}
    assert run["implementation"].startswith("tmadkit reference") and run["tmadkit"]


def test_cucumber_json_carries_clause_tags(run_dir: Path):
    features = json.loads((run_dir / "cucumber.json").read_text())
    tags = {t["name"] for f in features for el in f["elements"] for t in el.get("tags", [])}
    assert "rule-TMAD-T5.5-MCF-accept" in tags or "@rule-TMAD-T5.5-MCF-accept" in tags


def test_json_summary(tmp_path: Path, capsys):
    assert main(["conformance", "--out", str(tmp_path), "--json", "-m", "TMAD_T8_7_2"]) == 0
    data = json.loads(capsys.readouterr().out)
    sc = data["summary"]["scenarios"]
    assert 0 < sc["total"] == sc["passed"] < data["summary"]["witnesses"]


def test_report_without_a_run_lists_every_clause_as_not_run(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--json"]) == 0
    model = json.loads((tmp_path / "report.json").read_text())
    assert model["summary"]["clauses"] > 1000 and "scenarios" not in model["summary"]
    assert (tmp_path / "report.html").stat().st_size > 0
    history = {c["id"]: c["history"] for c in model["clauses"]}
    assert {"version": "5.0", "status": "renumbered", "id": "TMAD:4.23"} in history["TMAD:4.24"]
    assert {"version": "6.1F", "status": "unknown", "id": None} in history["TMAD:4.24"]


def test_a_suspect_rule_that_passes_is_not_reported_as_passed(project_copy: Path, tmp_path: Path, capsys):
    import yaml
    from lxml import etree

    clause, rule = "TMAD:T5.5/Migration Common File", "TMAD-T5.5-MCF-accept"
    path = project_copy / "spec" / "catalogue" / "TMAD" / "5.1.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry = next(e for e in data["entries"] if e["id"] == clause)
    entry["text"] += "!"                  # new text, new fingerprint; the rule was reviewed against the old
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    out = tmp_path / "run"
    # the clause's two rules (TMAD-T5.5-MCF-sign cites it too)
    assert main(["conformance", "--out", str(out), "-m",
                 "rule_TMAD_T5_5_MCF_accept or rule_TMAD_T5_5_MCF_sign"]) == 1
    printed = capsys.readouterr().out
    assert "SUSPECT" in printed and f"{rule}: {clause} changed" in printed

    model = json.loads((out / "report.json").read_text())
    r = model["rules"][rule]
    assert {run["status"] for run in r["runs"]} == {"passed"}          # the scenarios did pass ...
    assert r["result"] == "suspect"                                    # ... but the rule is not passed
    assert r["stale_citations"] == [{"clause": clause, "why": "changed"}]
    row = next(c for c in model["clauses"] if c["id"] == clause)
    assert row["result"] == "suspect" and row["suspect"]
    assert "passed" not in model["summary"]["clause_results"]

    page = (out / "report.html").read_text()
    assert "Suspect rules (2)" in page and f"{clause} changed" in page and "No scenario failed" not in page
    cases = etree.parse(str(out / "junit.xml")).findall(".//testcase")
    assert cases and all(c.find("failure") is not None and "suspect" in c.find("failure").get("message")
                         for c in cases)
    assert all(junit_ids(c).get("suspect") for c in cases)
    assert_valid_xunit2(out)
    # Cucumber JSON says what JUnit says: every scenario failed, with the reason and the command
    assert set(assert_junit_and_cucumber_agree(out).values()) == {"failure"}
    for status, message in cucumber_verdicts(out).values():
        assert message.startswith("suspect:") and "`tmadkit review --rule TMAD-T5.5-MCF-" in message
    from tmadkit.exports import oscal_assessment_results, objective_id

    findings = oscal_assessment_results(model)["assessment-results"]["results"][0]["findings"]
    f = next(f for f in findings if f["target"]["target-id"] == objective_id(clause))
    assert f["target"]["status"]["state"] == "not-satisfied" and "suspect" in f["target"]["status"]["remarks"]


def test_a_path_scenario_is_filed_under_its_first_rule_tag_and_shown_on_every_rule(tmp_path: Path):
    import re

    out = tmp_path / "paths"
    assert main(["conformance", "--out", str(out), "-m", "smi_path", "--json"]) == 0
    feature = (Path(__file__).resolve().parents[1] / "features" / "ac" / "smi.feature").read_text().splitlines()
    first_tag = {}
    for i, line in enumerate(feature):
        m = re.match(r"\s*Scenario: (.+)$", line)
        if m and "@smi-path" in feature[i - 1]:
            key = re.sub("[^a-z0-9]", "", m.group(1).lower())
            first_tag[key] = [t[len("@rule-"):] for t in feature[i - 1].split() if t.startswith("@rule-")]
    results = json.loads((out / "results.json").read_text())["scenarios"]
    model = json.loads((out / "report.json").read_text())
    assert len(results) == len(first_tag) >= 10
    for s in results:
        tags = first_tag[re.sub("[^a-z0-9]", "", s["scenario"].removeprefix("test_"))]
        assert s["rule"] == tags[0] and s.get("rules", [s["rule"]]) == tags
        for rid in tags:
            assert s["test"] in {r["test"] for r in model["rules"][rid]["runs"]}
    assert model["summary"]["scenarios"]["total"] == len(results)     # each path counted once


def test_a_selection_that_matches_nothing_leaves_the_report_folder_as_it_was(tmp_path: Path, capsys):
    out = tmp_path / "report"
    assert main(["conformance", "--out", str(out), "-m", "TMAD_T8_7_2", "--json"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["conformance", "--out", str(out), "-m", "TMAD_T5_9_typo"]) == 2
    err = capsys.readouterr().err
    assert "no scenario matches the selection" in err and "TMAD_T5_9_typo" in err and "Traceback" not in err
    assert main(["conformance", "--out", str(out), "--tmad", "9.9"]) == 2
    assert "--tmad 9.9: no such TMAD version (catalogued: " in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _folder(out: Path) -> dict[str, bytes | None]:
    """Everything in a folder, hidden files included: a directory as None, a file as its bytes."""
    return {p.relative_to(out).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(out.rglob("*"))}


def test_a_report_that_cannot_be_written_whole_leaves_the_folder_as_it_was(tmp_path: Path, capsys):
    import subprocess
    import sys

    out = tmp_path / "report"
    assert main(["conformance", "--out", str(out), "-m", "TMAD_T8_7_2", "--json"]) == 0
    before = _folder(out)
    capsys.readouterr()
    # A disk that fills part-way: the process may not write a file past 1 MB, so the run's small
    # files could be written and report.json (1.4 MB) cannot.
    limit = 1_000_000
    assert all(len(data) < limit for name, data in before.items() if name in ("junit.xml", "results.json"))
    assert len(before["report.json"]) > limit
    # (set in the child itself, not by preexec_fn, which is unsafe in a process with threads)
    script = (f"import resource, sys\nresource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
              f"from tmadkit.cli import main\nsys.exit(main({['conformance', '--out', str(out), '-m', 'TMAD_T5_5']!r}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 2 and "File too large" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "report.json" in proc.stderr or "oscal-assessment-results.json" in proc.stderr
    assert _folder(out) == before
    # A file that cannot be replaced once the others have been (a directory in its place):
    # those already moved in are put back.
    (out / "report.html").unlink()
    (out / "report.html").mkdir()
    before = _folder(out)
    assert main(["conformance", "--out", str(out), "-m", "TMAD_T5_5"]) == 2
    assert "report.html" in capsys.readouterr().err
    assert _folder(out) == before


def test_a_bad_selection_expression_is_the_callers_mistake_not_the_implementations(tmp_path: Path, capsys):
    from tmadkit import conformance
    from tmadkit.errors import TmadkitError

    out = tmp_path / "r"
    for flag, expr, what in (("-m", "TMAD_T5_9 and (", "marker"), ("-k", "expired or", "keyword")):
        assert main(["conformance", "--out", str(out), flag, expr]) == 2
        err = capsys.readouterr().err
        assert f"{flag} {expr!r}: the {what} expression is invalid: at column" in err, err
        assert "implementation" not in err and not out.exists()
    with pytest.raises(TmadkitError, match="the marker expression is invalid") as exc:
        conformance.run(out, show_progress=False, pytest_args=["-m", "TMAD_T5_9 and ("])
    assert "implementation" not in str(exc.value) and not out.exists()
