"""Versions of the TMAD: 5.0 and 5.1 from one marked-up text, 6.1F partial; diff; per-version rules."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tmadkit import catalogue, registry, sources
from tmadkit.cli import main
from tmadkit.diff import compare
from tmadkit.rules import load_all


@pytest.fixture(scope="module")
def diff_50_51(tmp_path_factory) -> dict:
    import subprocess, sys
    proc = subprocess.run([sys.executable, "-m", "tmadkit.cli", "diff", "TMAD", "5.0", "5.1", "--json"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _change(diff: dict, **match) -> dict:
    hits = [c for c in diff["changes"] if all(c.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, len(hits))
    return hits[0]


def test_utrn_period_duration_48_to_336(diff_50_51):
    c = _change(diff_50_51, new_id="TMAD:2/UTRN Period")
    assert c["kind"] == "changed"
    assert {"category": "duration", "old": ["48 hours"], "new": ["336 hours"]} in c["highlights"]


def test_new_definition_of_single_use_authorisation_code(diff_50_51):
    c = _change(diff_50_51, new_id="TMAD:2/Single Use Authorisation Code (SUA)")
    assert c["kind"] == "added"


def test_clause_3_7_replaced(diff_50_51):
    c = _change(diff_50_51, new_id="TMAD:3.7")
    assert c["kind"] == "changed" and c["replaced"]


def test_3_14B_to_3_14E_edits(diff_50_51):
    edited = {c["new_id"] for c in diff_50_51["changes"] if c["kind"] == "changed"}
    assert {"TMAD:3.14B", "TMAD:3.14D", "TMAD:3.14E"} <= edited


def test_4_23_changed_and_4_23A_added(diff_50_51):
    c = _change(diff_50_51, new_id="TMAD:4.23", kind="changed")
    assert c["replaced"] and "TMAD:4.24" in c["note"]
    assert _change(diff_50_51, new_id="TMAD:4.23A")["kind"] == "added"


def test_renumbering_is_renumbering_not_removal_and_addition(diff_50_51):
    renumbered = {c["old_id"]: c["new_id"] for c in diff_50_51["changes"] if c["kind"] == "renumbered"}
    for n in range(23, 48):
        assert renumbered[f"TMAD:4.{n}"] == f"TMAD:4.{n + 1}"
    removed = {c["old_id"] for c in diff_50_51["changes"] if c["kind"] == "removed"}
    added = {c["new_id"] for c in diff_50_51["changes"] if c["kind"] == "added"}
    assert not any(re.fullmatch(r"TMAD:4\.(2[3-9]|3\d|4[0-7])", i) for i in removed)
    assert "TMAD:4.48" not in added


def test_4_34A_changed_and_4_44A_added(diff_50_51):
    assert _change(diff_50_51, new_id="TMAD:4.34A")["kind"] == "changed"
    assert _change(diff_50_51, new_id="TMAD:4.44A")["kind"] == "added"


def test_clause_6_1_no_longer_excludes_step_5_9_10(diff_50_51):
    c = _change(diff_50_51, new_id="TMAD:6.1")
    assert "excluding Step number 5.9.10" in c["old_text"] and "5.9.10" not in c["new_text"]
    assert {"category": "number", "old": ["5.9.10"], "new": []} in c["highlights"]


def test_table_11_3B_relabelled(diff_50_51):
    relabelled = {c["old_id"]: c["new_id"] for c in diff_50_51["changes"] if c["kind"] == "relabelled"}
    assert relabelled["TMAD:11.3B/T"] == "TMAD:T11.3B"
    assert relabelled["TMAD:11.3B/T/Algorithm"] == "TMAD:T11.3B/Algorithm"


def test_an_unchanged_clause_has_no_impact(diff_50_51):
    ids = {c["new_id"] for c in diff_50_51["changes"]} | {c["old_id"] for c in diff_50_51["changes"]}
    assert "TMAD:5.6" not in ids and "TMAD:T5.9/5.9.5" not in ids
    suspect = {s["rule"] for s in diff_50_51["suspect_rules"]}
    assert "TMAD-T5.7-MCF-creator" not in suspect          # cites only unchanged clauses
    assert "TMAD-6.1-to-be-commissioned" in suspect         # cites 6.1, which changed
    assert "generated/tmad/table_5_7.py::check_tmad_t5_7_mcf_creator" not in diff_50_51["impact"]["validators"]


def test_utrn_rule_carries_48_for_5_0_and_336_for_5_1():
    rule = load_all().by_id()["TMAD-3.14D-a-UTRN-during-period"]
    assert rule.values == {"utrn_hours": {"5.0": 48, "5.1": 336}}
    check = registry.check(rule.id)
    facts = {"group_id": "DA", "device_type": "ESME",
             "utrn": {"period_start": "2026-03-01T00:00:00+00:00", "requested_at": "2026-03-05T04:00:00+00:00",
                      "response": "utrn"}}
    assert check(facts, "5.1").status == "pass"
    assert check(facts, "5.0").status == "not_applicable"
    with pytest.raises(ValueError, match="no values for version '4.9'"):
        check(facts, "4.9")


def test_utrn_scenarios_differ_per_version():
    text = (Path(__file__).resolve().parents[1] / "features" / "tmad" / "utrn-period.feature").read_text()
    outlines = re.split(r"\n  @rule-", text)
    v50 = next(o for o in outlines if o.startswith("TMAD-3.14D-a") and "[TMAD 5.0]" in o)
    v51 = next(o for o in outlines if o.startswith("TMAD-3.14D-a") and "[TMAD 5.1]" in o)
    row = lambda o: next(line for line in o.splitlines() if "| after-100-hours " in line)  # noqa: E731
    assert "not_applicable" in row(v50) and "| pass " in row(v51)
    assert "@tmad-version-5.0" in v50 and "@tmad-version-5.1" in v51


def test_6_1F_is_partial_and_says_so(capsys):
    cat = catalogue.load("TMAD", "6.1F")
    assert cat.partial and {e.status for e in cat.entries} == {"given", "described"}
    diff = compare(catalogue.load("TMAD", "5.1"), cat)
    assert diff.unknown > 800 and not [c for c in diff.changes if c.kind == "removed"]
    kinds = {c.new_id: c.kind for c in diff.changes}
    assert kinds["TMAD:T10.1/DeviceCertificate"] == "added" and kinds["TMAD:5.16"] == "changed"
    foc = load_all().by_id()["TMAD-5.16-served-within-timer-FOC"]
    assert sources.rule_versions(foc) == ["5.0", "5.1", "6.1F"]
    assert "6.1F" not in sources.rule_versions(load_all().by_id()["TMAD-T5.5-MCF-accept"])


def test_editing_one_clause_in_a_copy_of_the_source_makes_exactly_its_rules_suspect(project_copy: Path, capsys):
    src = project_copy / "spec" / "sources" / "TMAD-AL-5.1-consultation-marked.md"
    text = src.read_text(encoding="utf-8")
    assert text.count("according the requirements of [Table 5.7](#)") == 1   # Clause 5.6, outside the quoted words
    src.write_text(text.replace("according the requirements of [Table 5.7](#)",
                                "according to the requirements of [Table 5.7](#)"), encoding="utf-8")
    assert main(["ingest", "TMAD"]) == 0
    capsys.readouterr()
    assert main(["lint", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    suspect = sorted({f["rule"] for f in report["findings"] if f["code"] == "suspect"})
    citing = sorted(r.id for r in load_all() if "TMAD:5.6" in r.clause_ids)
    assert suspect == citing and len(citing) >= 8
    assert {f["clause"] for f in report["findings"]} == {"TMAD:5.6"}


def test_diff_rejects_unknown_versions(capsys):
    assert main(["diff", "TMAD", "4.0", "5.1"]) == 2
    assert "no catalogue version '4.0'" in capsys.readouterr().err
    assert main(["diff", "TMAD", "5.1", "5.1"]) == 2
    assert "OLD and NEW are both TMAD 5.1" in capsys.readouterr().err


def test_appendix_ac_older_numbering_is_a_version_of_ac():
    old = catalogue.load("AC", "BAD")
    assert old.partial and len(old.entries) > 40
    diff = compare(old, catalogue.load("AC", "SMETS1-2018-03-23"))
    renumbered = {c.old_id: c.new_id for c in diff.changes if c.kind == "renumbered"}
    assert renumbered["AC:7.1"] == "AC:8.1" and renumbered["AC:9.2"] == "AC:11.2"
    assert renumbered["AC:2.11"] == "AC:2.12"
    changed = {c.new_id: c for c in diff.changes if c.kind == "changed"}
    assert ["replace", "Certified", "Central"] in changed["AC:2.4"].words
    assert not [c for c in diff.changes if c.kind in ("added", "removed")]   # partial: unknown, never removed


def test_rules_citing_a_removed_clause_are_suspect_in_the_diff_and_the_report():
    import dataclasses

    from tmadkit import traceability
    from tmadkit.diff import assess

    old = catalogue.load("TMAD", "5.1")
    gone = {e.id for e in old.entries if e.id == "TMAD:5.16" or e.id.startswith("TMAD:5.16(")}
    new = dataclasses.replace(old, version="5.2", entries=[e for e in old.entries if e.id not in gone])
    citing = sorted(r.id for r in load_all() if "TMAD:5.16" in r.clause_ids)
    assert citing
    diff = assess(compare(old, new), load_all(), registry.manifest(), current_version="5.2")
    assert "TMAD:5.16" in {c.old_id for c in diff.changes if c.kind == "removed"}
    assert citing == sorted(s["rule"] for s in diff.suspect if "TMAD:5.16" in s["clauses"])
    assert not any(s["reviewed"] for s in diff.suspect)

    # a changed clause: suspect until the rule cites the new text's fingerprint
    changed = dataclasses.replace(old, version="5.2", entries=[
        dataclasses.replace(e, text=e.text + "!")
        if e.id == "TMAD:T5.5/Migration Common File" else e for e in old.entries])
    rules = load_all()
    diff = assess(compare(old, changed), rules, registry.manifest(), current_version="5.2")
    hit = {s["rule"]: s for s in diff.suspect}
    assert set(hit) == {"TMAD-T5.5-MCF-accept", "TMAD-T5.5-MCF-sign"} and not hit["TMAD-T5.5-MCF-accept"]["reviewed"]
    rule = rules.by_id()["TMAD-T5.5-MCF-accept"]
    rule.clauses = [dataclasses.replace(c, fingerprint=changed.get(c.id).fingerprint) for c in rule.clauses]
    diff = assess(compare(old, changed), rules, registry.manifest(), current_version="5.2")
    assert {s["rule"]: s["reviewed"] for s in diff.suspect} == {"TMAD-T5.5-MCF-accept": True,
                                                                "TMAD-T5.5-MCF-sign": False}

    model = traceability.build({**sources.current_catalogues(), "TMAD": new}, load_all(), registry.manifest())
    for rid in citing:
        assert {"clause": "TMAD:5.16", "why": "removed"} in model["rules"][rid]["stale_citations"]
        assert "TMAD:5.16" in model["rules"][rid]["suspect"]
