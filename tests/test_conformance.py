"""`tmadkit conformance` end to end: run, report files, summary, clause ids in every export."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

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


def test_junit_carries_rule_and_clause_ids(run_dir: Path):
    root = ET.parse(run_dir / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert cases
    for case in cases:
        props = {(p.get("name"), p.get("value")) for p in case.findall("./properties/property")}
        assert any(n == "rule" for n, _ in props) and any(n == "clause" for n, _ in props), case.get("name")


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
