"""generated/tmad/rules.json: run time builds the rule files the generator parsed from its
snapshot instead of their YAML, and only while their bytes are the ones it parsed."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from test_rule_files import GOOD   # a valid rule file
from tmadkit import generator, paths, rules, sources


def _yaml_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the YAML parses from here on (one per rule file read as YAML)."""
    seen: list[str] = []
    real = rules._compose_and_load

    def counting(text: str):
        seen.append(text)
        return real(text)

    monkeypatch.setattr(rules, "_compose_and_load", counting)
    return seen


def _typed(value):
    """A RuleFile/Rule as plain data, so that the comparison also sees types (True is not 1)."""
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def _assert_same(got: list[rules.RuleFile], want: list[rules.RuleFile]) -> None:
    assert [f.relpath for f in got] == [f.relpath for f in want]
    for g, w in zip(got, want):
        for f in dataclasses.fields(rules.RuleFile):
            if f.name != "rules":
                assert getattr(g, f.name) == getattr(w, f.name), (g.relpath, f.name)
        assert len(g.rules) == len(w.rules), g.relpath
        for rg, rw in zip(g.rules, w.rules):
            assert type(rg) is type(rw)
            for f in dataclasses.fields(rw):
                assert getattr(rg, f.name) == getattr(rw, f.name), (rw.id, f.name)
            assert rules.json_identical(_typed(rg), _typed(rw)), rw.id
        assert g == w


def test_the_snapshot_builds_what_the_yaml_builds(monkeypatch):
    files = rules.run_time_files()
    from_yaml = [rules.load_file(p) for p in files]
    parsed = _yaml_loads(monkeypatch)
    from_snapshot = rules.load_files_as_generated(files)
    assert parsed == [], "a rule file the generator parsed was read as YAML again"
    _assert_same(from_snapshot, from_yaml)
    assert all(r.line > 1 for f in from_snapshot for r in f.rules)


def test_every_run_time_rule_file_is_in_the_snapshot():
    doc = json.loads((paths.root() / rules.SNAPSHOT).read_text(encoding="utf-8"))
    assert doc["generator"] == generator.GENERATOR
    assert doc["read_as_yaml"] == []
    files = rules.run_time_files()
    assert len(files) >= 21
    want = {rules._relpath(p): rules.hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert {e["path"]: e["sha256"] for e in doc["files"]} == want
    assert doc["rule_files"] == want


def test_a_state_machine_s_lines_are_recorded_too():
    """rules_from asks its own lines (state_machine/transitions/i ...): the snapshot records
    those as well, so a file with a state machine would be built from it alike."""
    smi = paths.rules_dir() / "ac" / "smi.yaml"
    entry = rules.snapshot_entry(smi)
    assert entry is not None
    entry = json.loads(json.dumps(entry))
    assert any(p[0] == "state_machine" for p, _ in entry["lines"])
    built = rules._from_snapshot(smi, entry["path"], entry, entry["sha256"])
    _assert_same([built], [rules.load_file(smi)])


def test_changed_bytes_are_read_as_yaml_and_the_change_is_seen(project_copy: Path, monkeypatch):
    target = project_copy / "rules" / "tmad" / "table-10.2.yaml"
    old = b'title: "TMAD Clause 10.2 and Table 10.2: file naming and XML structure"'
    text = target.read_bytes()
    assert old in text
    target.write_bytes(text.replace(old, b'title: "renamed after generation"', 1))
    parsed = _yaml_loads(monkeypatch)
    loaded = rules.tmad_rules()
    assert len(parsed) == 1, "only the changed file is read as YAML"
    changed, = (f for f in loaded.files if f.relpath == "rules/tmad/table-10.2.yaml")
    assert changed.title == "renamed after generation"
    assert changed.sha256 == rules.hashlib.sha256(target.read_bytes()).hexdigest()
    # and `generate --check` names the snapshot as stale
    artefacts = generator.build(rules.load_all(), sources.current_catalogues())
    assert any(p.startswith(rules.SNAPSHOT + ":") for p in generator.stale(artefacts, project_copy))


def test_a_line_the_snapshot_did_not_record_falls_back_to_yaml(monkeypatch):
    real = rules._snapshot

    def dropping() -> dict[str, dict]:
        snap = real()
        entry = snap["rules/tmad/table-10.2.yaml"]
        entry["lines"] = [pl for pl in entry["lines"] if pl[0] != ["rules", 3]]
        return snap

    monkeypatch.setattr(rules, "_snapshot", dropping)
    files = rules.run_time_files()
    from_yaml = [rules.load_file(p) for p in files]
    parsed = _yaml_loads(monkeypatch)
    loaded = rules.load_files_as_generated(files)
    assert len(parsed) == 1
    _assert_same(loaded, from_yaml)


@pytest.mark.parametrize("content", [
    "{not json",
    "",
    "[]",
    '{"files": 7}',
    '{"files": [1, "x", {"path": ["a"]}]}',
    '{"files": [{"path": "rules/tmad/table-10.2.yaml", "sha256": "%s", "data": {"title": 1}, "lines": []}]}',
    '{"files": [{"path": "rules/tmad/table-10.2.yaml", "sha256": "%s", "data": {}, "lines": 5}]}',
])
def test_a_damaged_snapshot_still_loads_every_file_from_yaml(project_copy: Path, content):
    table = project_copy / "rules" / "tmad" / "table-10.2.yaml"
    content = content.replace("%s", rules.hashlib.sha256(table.read_bytes()).hexdigest())
    (project_copy / rules.SNAPSHOT).write_text(content, encoding="utf-8")
    files = rules.run_time_files()
    from_yaml = [rules.load_file(p) for p in files]
    loaded = rules.tmad_rules()
    _assert_same(loaded.files, from_yaml)


def test_a_missing_snapshot_reads_yaml(project_copy: Path, monkeypatch):
    (project_copy / rules.SNAPSHOT).unlink()
    parsed = _yaml_loads(monkeypatch)
    assert len(rules.tmad_rules().files) == len(parsed) >= 21


@pytest.mark.parametrize("a, b", [
    ({1: "x"}, {"1": "x"}),                 # an int key comes back a string
    ({True: "x"}, {"true": "x"}),
    ({"k": True}, {"k": 1}),                # True == 1 in Python
    ({"k": [1, 0]}, {"k": [True, False]}),
    ({"k": 1.0}, {"k": 1}),                 # 1.0 == 1 in Python
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),   # key order is the document's
    ({"k": [1, 2]}, {"k": [1, 2, 3]}),
    ({"k": None}, {"k": "null"}),
])
def test_json_identical_sees_types_keys_and_order(a, b):
    assert a == b or a != b               # whatever == says,
    assert not rules.json_identical(a, b)  # these differ
    assert not rules.json_identical(b, a)


def test_json_identical_accepts_what_json_gives_back():
    data = {"a": [1, 2.5, True, None, "é", {"b": False}], "c": {}, "d": -0.0}
    assert rules.json_identical(json.loads(json.dumps(data, ensure_ascii=False)), data)


def test_a_file_json_cannot_give_back_is_left_out_of_the_snapshot(tmp_path: Path):
    path = tmp_path / "int-key.yaml"
    path.write_text(GOOD.replace("facts: {file_type: MCF}}", "facts: {file_type: MCF, 7: yes}}"))
    assert rules.load_file(path).rules[0].witnesses[0].facts == {"file_type": "MCF", 7: True}
    assert rules.snapshot_entry(path) is None
    path.write_text(GOOD)
    assert rules.snapshot_entry(path) is not None
