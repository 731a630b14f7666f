"""Structural lint of state machines (unreachable state, undefined target, ambiguous transitions),
the AC alias map, the SVG diagram, the generated checks rejecting failing witnesses, and the
report's transition coverage."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from lxml import etree

from tmadkit import registry, sources, traceability
from tmadkit.errors import InputError
from tmadkit.ingest import ac
from tmadkit.rules import load_all
from tmadkit.smi import generate, model, svg
from tmadkit.smi.lint import exclusive

REPO = Path(__file__).resolve().parents[1]
C = {"id": "AC:8.2", "fingerprint": "0" * 64, "quote": "the DCC shall remove the Device"}


def _machine_file(tmp_path: Path, transitions: list[dict], states=None) -> Path:
    rules = tmp_path / "rules"
    (rules / "ac").mkdir(parents=True)
    for s in (REPO / "rules").glob("*.schema.json"):
        shutil.copy(s, rules / s.name)
    base = {"id": "t", "title": "x", "event": "tick", "from": ["a"], "device_types": ["ESME"], "by": ["DCC"],
            "actor": "DCC", "clauses": [C]}
    doc = {"document": "AC", "title": "test", "rules": [{"id": "AC-x-record", "title": "x", "clauses": [C],
                                                            "actor": "DCC", "testable": False, "reason": "x"}],
           "state_machine": {
               "id": "m", "initial": "a",
               "states": states or [{"id": "a", "name": "a"}, {"id": "b", "name": "b"}, {"id": "c", "name": "c"}],
               "device_types": [{"id": "ESME", "name": "ESME", "group": "smart-meter", "has_status": True}],
               "events": [{"id": "tick", "name": "tick", "kind": "timer", "params": ["p"]}],
               "transitions": [{**base, **t} for t in transitions], "refusals": []}}
    path = rules / "ac" / "m.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _codes(path: Path) -> list[str]:
    from tmadkit.rules import load_file
    from tmadkit.smi.lint import lint_files
    return sorted(f.code for f in lint_files([load_file(path)]))


def test_unreachable_state(tmp_path):
    p = _machine_file(tmp_path, [{"id": "AC-T-1", "to": "b"}])
    assert _codes(p) == ["unreachable-state"]


def test_transition_to_an_undefined_state(tmp_path):
    p = _machine_file(tmp_path, [{"id": "AC-T-1", "to": "b"}, {"id": "AC-T-2", "from": ["b"], "to": "zz", "guard": {"not": {"param": "p"}}},
                                 {"id": "AC-T-3", "from": ["b"], "to": "c", "guard": {"param": "p"}}])
    assert _codes(p) == ["undefined-state"]


def test_ambiguous_transitions(tmp_path):
    p = _machine_file(tmp_path, [{"id": "AC-T-1", "to": "b"}, {"id": "AC-T-2", "to": "c"}])
    assert _codes(p) == ["ambiguous-transition"]
    ok = _machine_file(tmp_path / "2", [{"id": "AC-T-1", "to": "b", "guard": {"param": "p"}},
                                        {"id": "AC-T-2", "to": "c", "guard": {"not": {"param": "p"}}}])
    assert _codes(ok) == []


def test_a_reading_shared_by_several_rules_names_a_rule_stating_a_reading_of_its_question(tmp_path):
    dispute = {"question": "q", "reading": "r", "evidence": "e"}
    good = [{"id": "AC-T-1", "to": "b", "disputed": dispute},
            {"id": "AC-T-2", "to": "c", "device_types": ["ESME"], "disputed": {**dispute, "same_reading_as": "AC-T-1"}}]
    assert _codes(_machine_file(tmp_path, good)) == []
    for other in ("AC-T-9", "AC-T-2"):       # no such rule; a rule that is itself a part of a reading
        bad = [good[0], {**good[1], "disputed": {**dispute, "same_reading_as": other}}]
        from tmadkit.lint import unknown_readings
        from tmadkit.rules import load_file
        path = _machine_file(tmp_path / other, bad)
        assert _codes(path) == [] and [f.code for f in unknown_readings(load_file(path).rules)] == ["unknown-reading"]


def test_an_event_records_only_its_own_params(tmp_path):
    p = _machine_file(tmp_path, [{"id": "AC-T-1", "to": "b"}])
    doc = yaml.safe_load(p.read_text())
    doc["state_machine"]["states"] = doc["state_machine"]["states"][:2]
    doc["state_machine"]["events"][0]["records"] = ["smets1"]
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert _codes(p) == ["unrecorded-param"]


def test_a_record_effect_only_on_a_transition_that_adds_the_device(tmp_path):
    # what the SMI records is fixed when the Device is added; a later event recording it is a data error
    assert _codes(_machine_file(tmp_path / "ok", [{"id": "AC-T-1", "to": "b", "effects": [{"record": "smets1"}]},
                                                  {"id": "AC-T-2", "from": ["b"], "to": "c"}])) == []
    assert _codes(_machine_file(tmp_path / "bad", [{"id": "AC-T-1", "to": "b"},
                                                   {"id": "AC-T-2", "from": ["b"], "to": "c",
                                                    "effects": [{"record": "smets1"}]}])) == ["record-not-adding"]


def test_a_cascade_names_only_defined_states(tmp_path):
    bad = {"cascade": "ESME", "status": "z", "from": ["a"]}
    assert _codes(_machine_file(tmp_path, [{"id": "AC-T-1", "to": "b", "effects": [bad]},
                                           {"id": "AC-T-2", "from": ["b"], "to": "c"}])) == ["undefined-state"]


def test_guards_that_pair_facts_are_told_apart_by_their_values(tmp_path):
    # The join transitions pair the Device's type with its target's; the literal test cannot see that two
    # such guards never hold together, trying the values can.
    def pair(p_true, p_false):
        return {"any": [{"all": [{"param": "p"}, {"status_in": {"of": "target", "states": [p_true]}}]},
                        {"all": [{"not": {"param": "p"}}, {"status_in": {"of": "target", "states": [p_false]}}]}]}
    apart = [{"id": "AC-T-1", "to": "b", "guard": pair("a", "b")}, {"id": "AC-T-2", "to": "c", "guard": pair("b", "a")}]
    assert _codes(_machine_file(tmp_path / "apart", apart)) == []
    overlap = [apart[0], {**apart[1], "guard": pair("a", "c")}]
    assert _codes(_machine_file(tmp_path / "overlap", overlap)) == ["ambiguous-transition"]


def test_guard_exclusivity():
    s = lambda *v: {"status_in": {"of": "target", "states": list(v)}}  # noqa: E731
    assert exclusive(s("x"), s("y")) and not exclusive(s("x", "y"), s("y"))
    assert exclusive({"all": [{"param": "p"}, s("x")]}, {"not": s("x")}) and not exclusive(None, s("x"))


def test_lint_is_clean_on_the_real_machine():
    from tmadkit.lint import lint
    _, findings = lint(sources.current_catalogues())
    assert [str(f) for f in findings] == []


def test_old_ac_numbering_is_an_alias():
    cat = sources.current_catalogues()["AC"]
    for old, new in (("7.1", "AC:8.1"), ("7.2", "AC:8.2"), ("7.3", "AC:8.3"), ("9.1", "AC:11.1"),
                     ("9.2", "AC:11.2"), ("6.1", "AC:7.1"), ("5.13", "AC:5.14"), ("2.11", "AC:2.12")):
        assert cat.get(f"AC@BAD:{old}").id == new
    assert cat.get("AC@BAD:4.12") is None       # same number in both: no alias
    # a rule is found by either numbering
    citing = [r.id for r in load_all() if cat.get("AC@BAD:7.2").id in r.clause_ids]
    assert "AC-8.2-pending-expired" in citing


def test_an_alias_without_evidence_stops_the_ingest(tmp_path):
    bad = yaml.safe_load((REPO / "spec/resolutions/AC-old-numbering.yaml").read_text())
    bad["mappings"][0]["evidence"]["quote"] = "words the BAD never printed"
    p = tmp_path / "map.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError, match="quote is not on"):
        ac.build_catalogue(REPO / "spec/sources/SEC-AC-SMETS1-2018-03-23.md", old_numbering=p)
    bad["mappings"][0]["evidence"]["line"] = 1
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError, match="not the BAD's row"):
        ac.build_catalogue(REPO / "spec/sources/SEC-AC-SMETS1-2018-03-23.md", old_numbering=p)


def test_svg_is_valid_and_every_edge_links_to_a_clause():
    m = model.load()
    text = svg.render(m, generate.clause_href)
    root = etree.fromstring(text.encode("utf-8"))
    ns = {"s": "http://www.w3.org/2000/svg"}
    links = root.findall(".//s:a", ns)
    hrefs = {a.get("href") for a in links}
    assert all(h.startswith("#c-") for h in hrefs)
    assert len(root.findall(".//s:a[@class='edge']", ns)) == len(svg.edges(m))
    for r in m.transitions:
        assert generate.clause_href(r.clause_ids[0]) in hrefs
    assert (REPO / "generated/ac/smi.svg").read_text(encoding="utf-8") == text


@pytest.mark.parametrize("rule", model.load().rules, ids=lambda r: r.id)
def test_each_generated_check_rejects_its_failing_witness(rule):
    check = registry.check(rule.id)
    for w in rule.witnesses:
        assert check(w.facts).status == w.expect, (w.id, check(w.facts).detail)
    assert any(w.expect == "fail" for w in rule.witnesses)


def test_generated_docstrings_quote_the_clauses():
    text = (REPO / "generated/ac/smi.py").read_text(encoding="utf-8")
    assert "def check_ac_4_12c_chf_not_commissioned(facts, version=None):" in text
    assert "the Communications Hub Function that is to form part of the same Smart Metering System" in " ".join(text.split())


def test_feature_parses_and_tags_every_rule():
    from gherkin.parser import Parser
    doc = Parser().parse((REPO / "features/ac/smi.feature").read_text(encoding="utf-8"))
    tags = {t["name"] for ch in doc["feature"]["children"] for t in ch["scenario"]["tags"]}
    for r in model.load().rules:
        assert f"@rule-{r.id}" in tags
    assert "@AC-4.12(c)" in tags and "@TMAD-3.3(b)" in tags


def test_report_shows_full_transition_coverage_and_the_disputes():
    man = registry.manifest()
    model_ = traceability.build(sources.current_catalogues(), load_all(), man)
    tc = model_["summary"]["transition_coverage"]
    assert tc["percent"] == 100.0 and tc["transitions"] == tc["transitions_exercised"]
    assert len(tc["disputed"]) == 18
    questions = {d["question"] for d in model_["disputes"]}
    assert {"join-whitelisted", "decommission-from-recovery", "gpf-update-inventory",
            "pending-expiry-scope", "join-target-type", "whitelist-from", "installed-from"} <= questions
    tmad = {c["id"]: c for c in model_["clauses"] if c["document"] == "TMAD"}
    assert tmad["TMAD:3.3(b)"]["status"] == "checked" and tmad["TMAD:3.2"]["status"] == "checked"
