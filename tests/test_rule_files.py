"""The rule format: schema, loader errors, and the primitives it may name."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from tmadkit import paths
from tmadkit.cli import main
from tmadkit.errors import InputError
from tmadkit.rules import load_all, load_file
from tmadkit.runtime.primitives import PRIMITIVES

GOOD = textwrap.dedent("""\
    document: TMAD
    title: "a test file"
    rules:
      - id: TMAD-TEST-1
        title: "file type is MCF"
        clauses:
          - {id: "TMAD:5.5", fingerprint: "%s", quote: "Parties shall only accept"}
        actor: Authenticator
        testable: true
        outcome: {action: not_compliant, text: "x"}
        predicate: {equals: {fact: file_type, value: MCF}}
        witnesses:
          - {id: ok, expect: pass, facts: {file_type: MCF}}
          - {id: bad, expect: fail, facts: {file_type: MGF}}
    """) % ("0" * 64)


def test_schema_is_valid_draft_2020_12():
    schema = json.loads((paths.rules_dir() / "rule.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_and_runtime_name_the_same_primitives():
    schema = json.loads((paths.rules_dir() / "rule.schema.json").read_text())
    in_schema = set(schema["$defs"]["predicate"]["properties"]) - {"all", "any", "not"}
    assert in_schema == set(PRIMITIVES)


def test_every_rule_file_loads():
    ruleset = load_all()
    assert len(ruleset.files) >= 5
    assert not ruleset.duplicates()


def test_good_file_loads(tmp_path: Path):
    p = tmp_path / "ok.yaml"
    p.write_text(GOOD)
    rf = load_file(p)
    assert [r.id for r in rf.rules] == ["TMAD-TEST-1"]


@pytest.mark.parametrize("mutation, line, where", [
    # no failing witness: the schema's "contains" on witnesses
    (("      - {id: bad, expect: fail, facts: {file_type: MGF}}\n", ""), 12, "/rules/0/witnesses"),
    # an unknown primitive inside the predicate
    (("{equals: {fact: file_type, value: MCF}}", "{python: {code: \"x == 1\"}}"), 11, "/rules/0/predicate"),
    # a fingerprint that is not SHA-256
    (("0" * 64, "abc"), 7, "/rules/0/clauses/0/fingerprint"),
    # an unknown actor
    (("actor: Authenticator", "actor: Someone"), 8, "/rules/0/actor"),
])
def test_schema_errors_name_file_line_and_path(tmp_path: Path, mutation, line, where):
    p = tmp_path / "bad.yaml"
    p.write_text(GOOD.replace(*mutation))
    with pytest.raises(InputError) as exc:
        load_file(p)
    assert exc.value.line == line
    assert exc.value.where == where
    assert "bad.yaml" in str(exc.value) and "schema path" in str(exc.value)
    if where.endswith("witnesses"):
        assert "at least one passing and one failing witness" in str(exc.value)


def test_malformed_yaml_names_the_line(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text(GOOD.replace("title: \"file type is MCF\"", "title: [unclosed"))
    with pytest.raises(InputError) as exc:
        load_file(p)
    assert exc.value.line is not None and "malformed YAML" in str(exc.value)


def test_duplicate_yaml_keys_are_refused(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text(GOOD.replace("    actor: Authenticator\n", "    actor: Authenticator\n    actor: DCC\n"))
    with pytest.raises(InputError, match="duplicate key 'actor'") as exc:
        load_file(p)
    assert exc.value.line == 9


def test_generate_refuses_a_bad_rule_file_and_writes_nothing(project_copy: Path, capsys):
    before = {p: p.read_bytes() for p in (project_copy / "generated").rglob("*") if p.is_file()}
    (project_copy / "rules" / "tmad" / "zz-bad.yaml").write_text(GOOD.replace("actor: Authenticator", "actor: 7"))
    assert main(["generate"]) == 2
    err = capsys.readouterr().err
    assert "rules/tmad/zz-bad.yaml:8" in err and "/rules/0/actor" in err
    after = {p: p.read_bytes() for p in (project_copy / "generated").rglob("*") if p.is_file()}
    assert after == before


def test_run_time_loading_trusts_only_the_bytes_the_generator_validated(tmp_path: Path, monkeypatch):
    """tmadkit validate reads rule files without the schema pass only where their SHA-256 is the
    one generated/manifest.json recorded; a changed file is checked again and refused."""
    from tmadkit import rules

    shipped = paths.rules_dir() / "tmad" / "table-10.2.yaml"
    changed = tmp_path / "table-10.2.yaml"
    changed.write_bytes(shipped.read_bytes().replace(b"actor: Commissioning Party", b"actor: 7", 1))

    def no_schema(*_):
        raise AssertionError("the schema was consulted")

    with monkeypatch.context() as m:
        m.setattr(rules, "_validator", no_schema)
        trusted, = rules.load_files_as_generated([shipped])
    assert [r.id for r in trusted.rules] == [r.id for r in load_file(shipped).rules]
    with pytest.raises(InputError) as exc:
        rules.load_files_as_generated([changed])
    assert "table-10.2.yaml" in str(exc.value) and "actor" in str(exc.value)
