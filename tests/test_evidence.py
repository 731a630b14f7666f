"""Evidence for auditors: bundle integrity and reproducibility, OSCAL, CSV, vacuity, per-version runs."""
from __future__ import annotations

import csv
import json
import zipfile

import pytest

from tmadkit.cli import main

SUBSET = "TMAD_T8_7_2 or TMAD_T5_5"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("SOURCE_DATE_EPOCH", "1790000000")
    base = tmp_path_factory.mktemp("evidence")
    for n in (1, 2):
        assert main(["conformance", "--out", str(base / f"r{n}"), "-m", SUBSET, "--bundle", str(base / f"b{n}.zip")]) == 0
    return base


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_reruns_give_byte_identical_bundles(bundles):
    assert (bundles / "b1.zip").read_bytes() == (bundles / "b2.zip").read_bytes()


def test_bundle_holds_report_exports_rules_sources_and_generated(bundles):
    names = set(zipfile.ZipFile(bundles / "b1.zip").namelist())
    for required in ("manifest.json", "report/report.html", "report/report.json", "report/junit.xml",
                     "report/cucumber.json", "report/results.json", "report/traceability.csv",
                     "report/oscal-assessment-results.json", "project/rules/tmad/table-5.5.yaml",
                     "project/spec/sources/TMAD-AL-5.1-consultation-marked.md",
                     "project/spec/catalogue/TMAD/5.1.yaml", "project/generated/manifest.json",
                     "project/features/tmad/table-5.5.feature"):
        assert required in names, required
    manifest = json.loads(zipfile.ZipFile(bundles / "b1.zip").read("manifest.json"))
    assert manifest["run"]["started"] == "2026-09-21T14:13:20+00:00"


def test_verify_bundle_passes_untouched_and_names_any_altered_file(bundles, tmp_path, capsys):
    original = bundles / "b1.zip"
    assert main(["verify-bundle", str(original)]) == 0
    with zipfile.ZipFile(original) as z:
        names = sorted(z.namelist())
        contents = {n: z.read(n) for n in names}
    targets = [n for n in names if n.startswith("report/")] + ["manifest.json",
               "project/rules/tmad/table-5.5.yaml", "project/spec/sources/SEC-AC-SMETS1-2018-03-23.md",
               "project/generated/tmad/table_5_5.py", "project/features/tmad/table-8.7.2.feature"]
    for target in targets:
        data = bytearray(contents[target])
        data[len(data) // 2] ^= 0x01                       # one byte changed
        tampered = tmp_path / "tampered.zip"
        with zipfile.ZipFile(tampered, "w") as z:
            for n in names:
                z.writestr(n, bytes(data) if n == target else contents[n])
        capsys.readouterr()
        assert main(["verify-bundle", str(tampered), "--json"]) == 1, target
        problems = json.loads(capsys.readouterr().out)["problems"]
        assert any(p.startswith(target + ":") for p in problems), (target, problems)


def test_verify_bundle_refuses_a_second_entry_under_one_name(bundles, tmp_path, capsys):
    import warnings

    with zipfile.ZipFile(bundles / "b1.zip") as z:
        contents = {n: z.read(n) for n in z.namelist()}
    tampered = tmp_path / "twice.zip"
    with zipfile.ZipFile(tampered, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")                     # zipfile warns of the duplicate name
        z.writestr("report/report.md", b"# every clause FAILED\n")   # an altered copy, first ...
        for n, data in contents.items():
            z.writestr(n, data)                             # ... then the sealed one
    assert main(["verify-bundle", str(tampered), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == ["report/report.md: 2 entries under this one name"]


def test_verify_bundle_reports_a_malformed_manifest(bundles, tmp_path, capsys):
    with zipfile.ZipFile(bundles / "b1.zip") as z:
        contents = {n: z.read(n) for n in z.namelist()}
    bad = tmp_path / "bad-manifest.zip"
    with zipfile.ZipFile(bad, "w") as z:
        for n, data in contents.items():
            z.writestr(n, json.dumps({"files": [{"sha256": "0" * 64}]}) if n == "manifest.json" else data)
    assert main(["verify-bundle", str(bad)]) == 1
    out = capsys.readouterr()
    assert "'files' is not a list of {path, sha256}" in out.out and "Traceback" not in out.err


def test_oscal_export_loads_into_the_nist_models(bundles):
    trestle = pytest.importorskip("trestle.oscal.assessment_results", reason="compliance-trestle not installed")
    doc = json.loads((bundles / "r1" / "oscal-assessment-results.json").read_text())
    ar = trestle.AssessmentResults.model_validate(doc["assessment-results"])
    findings = {f.title: f for f in ar.results[0].findings}
    assert findings["TMAD:T8.7.2/Commission Device"].target.status.state.value == "satisfied"
    assert findings["TMAD:3.10"].target.status.state.value == "not-satisfied"        # not testable: no evidence
    assert findings["TMAD:2.3"].target.status.state.value == "not-satisfied"         # not yet encoded
    assert findings["TMAD:T5.9/5.9.2"].target.status.state.value == "not-satisfied"  # not run in this subset
    observations = ar.results[0].observations
    assert observations and all(o.methods for o in observations)


def test_csv_matrix_has_a_row_per_clause_with_gaps(bundles):
    rows = list(csv.DictReader((bundles / "r1" / "traceability.csv").open()))
    report = json.loads((bundles / "r1" / "report.json").read_text())
    assert len(rows) == len(report["clauses"])
    by_id = {r["clause"]: r for r in rows}
    assert by_id["TMAD:T8.7.2/Commission Device"]["result"] == "passed"
    assert by_id["TMAD:2.3"]["status"] == "not yet encoded"


def test_vacuity_guard_flags_rules_this_run_did_not_exercise(bundles):
    report = json.loads((bundles / "r1" / "report.json").read_text())
    rules = report["rules"]
    assert rules["TMAD-T5.9-5.9.2"]["vacuity"] == ["never run"]
    assert rules["TMAD-T8.7.1-E48"]["vacuity"] == []
    assert report["summary"]["vacuous_rules"] > 0
    assert "Rules this run did not exercise" in (bundles / "r1" / "report.md").read_text()
    html = (bundles / "r1" / "report.html").read_text()
    assert f"Rules this run did not exercise fully ({report['summary']['vacuous_rules']})" in html
    assert "<code>TMAD-T5.9-5.9.2</code></a>: never run" in html


def test_tmad_option_runs_that_versions_suite(tmp_path, capsys):
    assert main(["conformance", "--out", str(tmp_path / "v50"), "--tmad", "5.0", "-m", "TMAD_3_14D", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    results = json.loads((tmp_path / "v50" / "results.json").read_text())
    versions = {s.get("version") for s in results["scenarios"] if s["status"] != "not applicable"}
    assert versions == {"5.0"} and data["summary"]["scenarios"]["passed"] > 0
