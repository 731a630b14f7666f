"""The implementation-under-test contract and its three adapters, against the reference.

The command and file-exchange adapters drive the reference in a separate process
(tmadkit.iut.reference_cli, tmadkit.iut.reference_daemon); each runs the whole feature suite
once (module-scoped fixtures).  Crashes and timeouts are checked on one scenario each.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _reports import assert_junit_and_cucumber_agree, assert_valid_xunit2, junit_ids

from tmadkit import conformance
from tmadkit.authentication.witness import describes_file
from tmadkit.cli import main
from tmadkit.errors import TmadkitError
from tmadkit.iut import contract
from tmadkit.rules import load_all

PY = shlex.quote(sys.executable)
REFERENCE_CMD = f"{PY} -m tmadkit.iut.reference_cli {{file}} --as {{as}} --at {{at}} --pki {{pki}}"


def file_witnesses() -> set[tuple[str, str]]:
    """Witnesses an Authenticator is given as real files: what the file adapters drive."""
    return {(r.id, w.id) for r in load_all() if r.testable and r.actor == "Authenticator"
            for w in r.witnesses if describes_file(w.facts)}


def statuses(out: Path) -> dict[str, list[dict]]:
    data = json.loads((out / "results.json").read_text())
    by: dict[str, list[dict]] = {}
    for s in data["scenarios"]:
        by.setdefault(s["status"], []).append(s)
    return by


def exchange_one_scenario(tmp_path: Path, inbox: Path, outbox: Path, timeout: float) -> dict[str, list[dict]]:
    """One Authenticator scenario (5.9.4, an expired certificate) run through the file exchange;
    the statuses of the report it writes to tmp_path/report."""
    conformance.run(tmp_path / "report", show_progress=False,
                    pytest_args=["-m", "rule_TMAD_T5_9_5_9_4", "-k", "expired"],
                    iut_options={"inbox": inbox, "outbox": outbox, "timeout": timeout})
    return statuses(tmp_path / "report")


def start_daemon(module_or_script: list[str], inbox: Path, outbox: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, *module_or_script, "--inbox", str(inbox), "--outbox", str(outbox)],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline().startswith("serving"), "the daemon did not start"
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()   # our own child, by its handle
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def command_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("command")
    conformance.run(out, show_progress=False, iut_options={"cmd": REFERENCE_CMD, "timeout": 60})
    return out


@pytest.fixture(scope="module")
def file_exchange_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("exchange")
    proc = start_daemon(["-m", "tmadkit.iut.reference_daemon"], base / "in", base / "out")
    try:
        conformance.run(base / "report", show_progress=False,
                        iut_options={"inbox": base / "in", "outbox": base / "out", "timeout": 60})
    finally:
        stop(proc)
    return base / "report"


@pytest.mark.parametrize("run", ["command_run", "file_exchange_run"])
def test_the_reference_in_a_separate_process_passes_every_applicable_scenario(run, request):
    out = request.getfixturevalue(run)
    by = statuses(out)
    assert not by.get("failed") and not by.get("error"), [s["message"] for s in by.get("failed", []) + by.get("error", [])][:3]
    passed = {(s["rule"], s["witness"]) for s in by["passed"]}
    assert passed == file_witnesses()          # every witness that is a file was driven, and passed
    na = by["not applicable"]
    assert na and all(s["message"] for s in na)
    assert any("drives Authenticators with files" in s["message"] for s in na)
    assert any("does not declare the role 'SMI'" in s["message"] for s in na)


def test_not_applicable_is_never_counted_as_passed(command_run: Path):
    model = json.loads((command_run / "report.json").read_text())
    sc = model["summary"]["scenarios"]
    assert sc["not applicable"] > 0 and sc["passed"] == len(file_witnesses())
    smi = model["rules"]["AC-2.4-CH-added"]
    assert smi["result"] == "not applicable"
    junit = ET.parse(command_run / "junit.xml").getroot()
    skipped = [c for c in junit.iter("testcase") if c.find("skipped") is not None]
    assert len(skipped) == sc["not applicable"]
    assert all("not applicable:" in c.find("skipped").get("message", "") for c in skipped)


def _clause_ids_by_scenario(out: Path) -> tuple[dict, dict]:
    junit = {}
    for case in ET.parse(out / "junit.xml").getroot().iter("testcase"):
        junit[case.get("name")] = set(junit_ids(case).get("clause", []))
    cucumber = {}
    for feature in json.loads((out / "cucumber.json").read_text()):
        for el in feature["elements"]:
            tags = [t["name"].lstrip("@") for t in el["tags"]]
            # clause tags are the clause ids with ':' as '-' and ' ' as '_' (codegen.tag)
            cucumber[el["id"]] = {t.replace("-", ":", 1).replace("_", " ") for t in tags
                                  if t.startswith(("TMAD-", "AC-"))}
    return junit, cucumber


def test_junit_and_cucumber_carry_the_same_clause_ids(command_run: Path):
    junit, cucumber = _clause_ids_by_scenario(command_run)
    assert junit.keys() == cucumber.keys() and len(junit) > 400   # not-applicable scenarios included
    for name, clauses in junit.items():
        assert clauses and clauses == cucumber[name], name


def test_a_crashing_command_is_an_error_with_its_stderr(tmp_path: Path):
    cmd = f"{PY} -c \"import sys; sys.stderr.write('segfault, probably'); sys.exit(3)\" {{file}}"
    conformance.run(tmp_path, show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4", "-k", "expired"],
                    iut_options={"cmd": cmd})
    [s] = statuses(tmp_path)["error"]
    assert "exit code 3" in s["message"] and "segfault, probably" in s["message"]
    assert s["actual"]["output"]["exit_code"] == 3
    assert s["failed_step"].startswith("When the Authenticator applies rule")


def test_a_hanging_command_is_killed_and_is_an_error(tmp_path: Path):
    cmd = f"{PY} -c \"import time; time.sleep(60)\" {{file}}"
    started = time.monotonic()
    conformance.run(tmp_path, show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4", "-k", "expired"],
                    iut_options={"cmd": cmd, "timeout": 1})
    assert time.monotonic() - started < 55     # killed: the command would sleep 60 s
    [s] = statuses(tmp_path)["error"]
    assert "no answer within 1 s" in s["message"]


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_command_that_answered_is_done_though_it_left_a_process_holding_its_output(tmp_path: Path):
    # The answer is complete when the command exits: a child still holding its stdout must not
    # make it an error at the timeout, and is killed with the command's session
    pids = tmp_path / "pids"
    script = tmp_path / "wrapped.py"
    script.write_text("import pathlib, runpy, subprocess, sys\n"
                      "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
                      f"pathlib.Path({str(pids)!r}).write_text(str(child.pid))\n"
                      "runpy.run_module('tmadkit.iut.reference_cli', run_name='__main__')\n")
    cmd = REFERENCE_CMD.replace("-m tmadkit.iut.reference_cli", str(script))
    conformance.run(tmp_path / "r", show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4", "-k", "expired"],
                    iut_options={"cmd": cmd, "timeout": 30})
    by = statuses(tmp_path / "r")
    assert set(by) == {"passed"}, {k: [s["message"] for s in v] for k, v in by.items()}
    pid = int(pids.read_text())
    deadline = time.monotonic() + 30
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid), "the process the command left behind is still running"


def _reference_after(tmp_path: Path, prelude: str) -> dict[str, list[dict]]:
    """Run rule 5.9.4's scenarios against the reference command with `prelude` run first in the
    command's own process (argv as the command gets it); the scenarios by status."""
    script = tmp_path / "wrapped.py"
    script.write_text("import pathlib, runpy, sys\n" + prelude
                      + "runpy.run_module('tmadkit.iut.reference_cli', run_name='__main__')\n")
    cmd = REFERENCE_CMD.replace("-m tmadkit.iut.reference_cli", str(script))
    conformance.run(tmp_path / "r", show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4"],
                    iut_options={"cmd": cmd})
    return statuses(tmp_path / "r")


def test_a_command_is_given_certificates_and_never_a_private_key(tmp_path: Path):
    # With a CA's or a signer's key an implementation could sign "witnesses" of its own.
    by = _reference_after(tmp_path, (
        "pki = pathlib.Path(sys.argv[sys.argv.index('--pki') + 1])\n"
        "keys = [p.name for p in pki.rglob('*') if p.is_file() and b'PRIVATE KEY' in p.read_bytes()]\n"
        "certs = list(pki.rglob('*.pem'))\n"
        "if keys or not certs: sys.exit(f'keys {keys}, {len(certs)} certificates')\n"))
    assert by.get("passed") and not by.get("error"), by.get("error", [])[:1]


def test_a_silent_file_exchange_times_out_as_an_error(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    [s] = exchange_one_scenario(tmp_path, tmp_path / "in", tmp_path / "out", 0.5)["error"]
    assert "verdict.json in the outbox within 0.5 s" in s["message"]
    assert s["actual"]["output"]["request"]["as"] == "DCC"
    # the request is withdrawn: an implementation that comes up later does not find it stale
    assert not list((tmp_path / "in").iterdir())


def test_a_declaration_limits_roles_and_versions(tmp_path: Path):
    decl = tmp_path / "decl.json"
    decl.write_text(json.dumps({"roles": ["Authenticator:DCO"], "tmad_versions": ["5.1"]}))
    # every scenario of the selection is then not applicable: the run is refused, with the reasons
    with pytest.raises(TmadkitError, match="nothing was checked") as err:
        conformance.run(tmp_path / "r", show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4"],
                        iut_options={"cmd": REFERENCE_CMD, "declaration": decl})
    assert "does not declare the role 'Authenticator:DCC'" in str(err.value)
    with pytest.raises(TmadkitError, match="nothing was checked") as err:
        conformance.run(tmp_path / "v", show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4"],
                        iut_options={"cmd": REFERENCE_CMD, "version": "4.0"})
    assert "not 4.0" not in str(err.value) and "the run is for TMAD 4.0" in str(err.value)
    # where some of the selection applies, that is checked and the rest reported not applicable
    decl.write_text(json.dumps({"roles": ["Authenticator:DCC"], "tmad_versions": ["5.1"]}))
    conformance.run(tmp_path / "d", show_progress=False,
                    pytest_args=["-m", "rule_TMAD_T5_9_5_9_4 or rule_TMAD_T5_7_MCF_authenticator"],
                    iut_options={"cmd": REFERENCE_CMD, "declaration": decl})
    by = statuses(tmp_path / "d")
    assert by["passed"] and all("from facts, not from a file" in s["message"] for s in by["not applicable"])


def test_contract_answers_are_checked():
    assert contract.check_answer({"accepted": True}, "x") == {"accepted": True, "failure": None}
    got = contract.check_answer({"accepted": False, "failure": {"step": "5.9.2", "extra": 1}}, "x")
    assert got == {"accepted": False, "failure": {"step": "5.9.2"}}
    for bad in ([], {"accepted": "yes"}, {"accepted": False}, {"accepted": False, "failure": {"rule": "r"}},
                {"accepted": True, "failure": {"step": "5.9.1"}}):
        with pytest.raises(contract.IUTError):
            contract.check_answer(bad, "x")


def test_declarations_are_validated(tmp_path: Path):
    from tmadkit.errors import InputError

    for data in ({"roles": ["Authenticator"]}, {"contract": "2"}, {"colour": "blue"}):
        with pytest.raises(InputError):
            contract.Declaration.from_mapping(data, where="d.json", default_name="x")


def test_group_ids_outside_the_declaration_are_not_applicable():
    decl = contract.Declaration("x", roles=contract.AUTHENTICATOR_ROLES, group_ids=("AA",))
    n = contract.ScenarioNeeds("R", "A check", "Authenticator:DCC", contract.AUTHENTICATE, "TMAD", ("5.1",), ("BB",))
    why = contract.not_applicable(n, decl, target_version=None, operations={contract.AUTHENTICATE}, adapter="command")
    assert why and "GroupID BB" in why
    n = contract.ScenarioNeeds("R", "A check", "Authenticator:DCC", contract.AUTHENTICATE, "TMAD", ("5.1",), ("AA",))
    assert contract.not_applicable(n, decl, target_version=None, operations={contract.AUTHENTICATE},
                                   adapter="command") is None


def test_the_reference_command_reads_the_same_procedure_as_the_toolkit():
    from tmadkit.iut import files, reference_cli

    quick, careful = reference_cli.procedure(), files.procedure()
    for who in ("DCC", "DCO", "S1SP", "Commissioning Party"):
        assert [(s, r.id) for s, r in quick.plan(who)] == [(s, r.id) for s, r in careful.plan(who)]
    assert quick.readings == careful.readings


def test_pack_writes_files_pki_and_expected_outcomes(tmp_path: Path, capsys):
    out = tmp_path / "pack"
    assert main(["pack", "--rule", "TMAD-T5.9-5.9.2", "--out", str(out), "--json"]) == 0
    expected = json.loads((out / "expected.json").read_text())
    sc = expected["scenarios"]
    assert len(sc) == 15 and sum(s["expected"]["accepted"] for s in sc) == 2
    assert not list((out / "pki").rglob("*key*")), "a pack never carries private keys"
    # the pack stands alone: the reference command, given only the pack, gives every expected answer
    for s in sc:
        proc = subprocess.run([sys.executable, "-m", "tmadkit.iut.reference_cli", str(out / s["file"]),
                               "--as", s["as"], "--at", s["at"], "--pki", str(out / "pki")],
                              capture_output=True, text=True, timeout=60)
        answer = json.loads(proc.stdout)
        assert answer["accepted"] == s["expected"]["accepted"], s["witness"]
        if not answer["accepted"]:
            assert answer["failure"]["step"] == s["expected"]["failure"]["step"], s["witness"]


def test_pack_by_clause_lists_what_it_leaves_out(tmp_path: Path, capsys):
    assert main(["pack", "--clause", "TMAD:T5.9", "--out", str(tmp_path / "p")]) == 0
    expected = json.loads((tmp_path / "p" / "expected.json").read_text())
    assert {s["rule"] for s in expected["scenarios"]} >= {"TMAD-T5.9-5.9.1", "TMAD-T5.9-5.9.2", "TMAD-T5.9-5.9.4"}
    assert expected["not_in_pack"] and all("judged from facts" in x["reason"] for x in expected["not_in_pack"])
    assert main(["pack", "--rule", "TMAD-T5.7-MCF-creator", "--out", str(tmp_path / "q")]) == 2
    assert not (tmp_path / "q").exists()


def test_every_rule_actor_is_a_role_of_the_contract():
    import json as _json

    from tmadkit import paths

    schema = _json.loads((paths.rules_dir() / "rule.schema.json").read_text())
    actors = set(schema["$defs"]["actor"]["enum"]) - {"Authenticator"}
    assert actors <= set(contract.PARTY_ROLES), actors - set(contract.PARTY_ROLES)


@pytest.mark.parametrize("body", ["raise RuntimeError('licence server down')", "x = (", None])
def test_an_in_process_factory_that_fails_writes_nothing_and_says_why(tmp_path: Path, body):
    impl = tmp_path / "impl.py"
    impl.write_text("factory = 42\n" if body is None else f"def factory():\n    {body}\n")
    out = tmp_path / "r"
    with pytest.raises(TmadkitError, match="could not be opened") as err:
        conformance.run(out, f"{impl}:factory", show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4"])
    assert "impl.py" in str(err.value) or "factory" in str(err.value)
    if body and "licence" in body:
        assert "RuntimeError: licence server down" in str(err.value)
    assert not out.exists() or not any(out.iterdir())


def test_junit_testcases_are_classed_by_their_feature_file(tmp_path: Path):
    from lxml import etree

    conformance.run(tmp_path, show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4 or TMAD_T5_10"])
    cases = list(etree.parse(str(tmp_path / "junit.xml")).iter("testcase"))
    assert len(cases) > 20
    assert all(c.get("classname", "").startswith("features.tmad.") for c in cases), \
        [c.get("name") for c in cases if not c.get("classname")][:3]


def test_a_command_may_write_beside_its_input(tmp_path: Path):
    by = _reference_after(tmp_path, "pathlib.Path(sys.argv[1] + '.log').write_text('seen')\n")
    assert by.get("passed") and not by.get("error"), by.get("error", [])[:1]


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_a_timeout_must_be_a_positive_number_of_seconds(tmp_path: Path, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["conformance", "--iut-cmd", "x {file}", "--timeout", value, "--out", str(tmp_path / "r")])
    assert exc.value.code == 2 and "timeout" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_run_in_which_no_scenario_applies_is_refused_and_writes_nothing(tmp_path: Path, capsys):
    out = tmp_path / "report"
    assert main(["conformance", "--out", str(out), "-m", "TMAD_T8_7_2", "--json"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    # Table 5.7's rules are judged from facts, which a command is never given: nothing is checked
    assert main(["conformance", "--out", str(out), "--iut-cmd", REFERENCE_CMD, "-m", "TMAD_T5_7"]) == 2
    err = capsys.readouterr().err
    assert "no selected scenario applies to" in err and "nothing was checked" in err and "Traceback" not in err
    assert "the command adapter drives Authenticators with files" in err      # the reason, to act on
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_plain_pytest_in_which_no_scenario_applies_exits_5_not_0(tmp_path: Path, xdist):
    # As the README runs the features without `tmadkit conformance`: nothing checked is no pass
    run = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "tmadkit.bdd.test_features",
                          "-p", "no:cacheprovider", f"--tmadkit-iut-cmd={REFERENCE_CMD}", "-m", "TMAD_T5_7",
                          *xdist, "-q"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 5, run.stdout[-2000:] + run.stderr[-2000:]
    assert "no selected scenario applies to the implementation under test" in run.stdout
    # and one scenario that applies is enough for the run to count
    run = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "tmadkit.bdd.test_features",
                          "-p", "no:cacheprovider", f"--tmadkit-iut-cmd={REFERENCE_CMD}",
                          "-m", "TMAD_T5_7 or rule_TMAD_T5_9_5_9_4", *xdist, "-q"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_plain_pytest_junit_is_xunit2_with_the_ids_and_errors_of_tmadkit_conformance(tmp_path: Path, xdist):
    # It accepts every file (a wrong answer where a file must be rejected: a failure) and
    # crashes when asked to judge facts (an error); xdist's workers must carry both marks
    impl = tmp_path / "impl.py"
    impl.write_text("class Impl:\n"
                    "    def authenticate(self, file_name, content, **kw):\n"
                    "        return {'accepted': True}\n"
                    "    def apply(self, actor, rule_id, facts, **kw):\n"
                    "        raise RuntimeError('licence server down')\n"
                    "def factory():\n"
                    "    return Impl()\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "tmadkit.bdd.test_features",
                          "-p", "no:cacheprovider", f"--tmadkit-iut={impl}:factory", f"--junitxml={tmp_path / 'junit.xml'}",
                          "-m", "rule_TMAD_T5_9_5_9_4 or rule_TMAD_T5_5_MCF_accept", *xdist, "-q"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert_valid_xunit2(tmp_path)
    cases = list(ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"))
    kinds = {}
    for case in cases:
        ids = junit_ids(case)
        assert ids["witness"] and ids["actor"], ET.tostring(case)
        kind = next((k for k in ("error", "failure") if case.find(k) is not None), "passed")
        kinds.setdefault((ids["rule"][0], kind), []).append(ids["clause"])
    assert set(kinds) == {("TMAD-T5.5-MCF-accept", "error"), ("TMAD-T5.9-5.9.4", "failure"),
                          ("TMAD-T5.9-5.9.4", "passed")}, set(kinds)
    assert all(["TMAD:T5.9/5.9.4"] == c for k, cs in kinds.items() if k[0] == "TMAD-T5.9-5.9.4" for c in cs)
    errors = [c.find("error") for c in cases if c.find("error") is not None]
    assert all("licence server down" in e.get("message") for e in errors)


def test_the_junit_of_a_session_without_scenarios_is_left_as_pytest_wrote_it(tmp_path: Path):
    # The plugin is loaded into every pytest run where tmadkit is installed
    (tmp_path / "test_theirs.py").write_text("def test_x(record_property):\n    record_property('rule', 'theirs')\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "test_theirs.py", "-p", "no:cacheprovider",
                          "--junitxml=junit.xml", "-q", "-W", "ignore::pytest.PytestWarning"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    [case] = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert [(p.get("name"), p.get("value")) for p in case.iter("property")] == [("rule", "theirs")]


def test_junit_tells_an_implementation_that_broke_from_one_that_answered_wrongly(tmp_path: Path):
    # Its first answer is a crash, then it accepts every file: the files it should have
    # rejected are failures (a wrong answer), the crash an error, and the rest pass.
    impl = tmp_path / "impl.py"
    impl.write_text("calls = []\n"
                    "class Impl:\n"
                    "    def authenticate(self, file_name, content, **kw):\n"
                    "        calls.append(file_name)\n"
                    "        if len(calls) == 1:\n"
                    "            raise RuntimeError('licence server down')\n"
                    "        return {'accepted': True}\n"
                    "def factory():\n"
                    "    return Impl()\n")
    out = tmp_path / "r"
    conformance.run(out, f"{impl}:factory", show_progress=False, pytest_args=["-m", "rule_TMAD_T5_9_5_9_4"])
    by = statuses(out)
    assert len(by["error"]) == 1 and by["failed"] and by["passed"]
    assert_valid_xunit2(out)
    verdicts = assert_junit_and_cucumber_agree(out)
    assert sorted(verdicts.values()) == sorted({"error": "error", "failed": "failure", "passed": "passed"}[s["status"]]
                                               for s in json.loads((out / "results.json").read_text())["scenarios"])
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert (suite.get("errors"), suite.get("failures")) == ("1", str(len(by["failed"])))
    [error] = [c.find("error") for c in suite.iter("testcase") if c.find("error") is not None]
    assert "licence server down" in error.get("message")
    for case in suite.iter("testcase"):   # the ids are kept, where the schema allows them
        ids = junit_ids(case)
        assert ids["rule"] == ["TMAD-T5.9-5.9.4"] and "TMAD:T5.9/5.9.4" in ids["clause"] and ids["witness"]


def test_a_command_that_cannot_be_run_is_refused_before_anything_is_written(tmp_path: Path, capsys):
    not_executable = tmp_path / "validator.sh"
    not_executable.write_text("#!/bin/sh\necho '{\"accepted\": true}'\n")
    out = tmp_path / "r"
    for program in ("/nonexistent/their-validator", "their-validator-not-installed", str(not_executable)):
        assert main(["conformance", "--out", str(out), "--iut-cmd", f"{program} {{file}}",
                     "-m", "rule_TMAD_T5_9_5_9_4"]) == 2
        err = capsys.readouterr().err
        assert "could not be opened" in err and repr(program) in err and "Traceback" not in err, err
        assert not out.exists()


@pytest.mark.parametrize("flags, named", [
    (["--iut", "examples/sloppy_authenticator.py:factory", "--iut-cmd", REFERENCE_CMD], ("--iut", "--iut-cmd")),
    (["--iut-cmd", REFERENCE_CMD, "--iut-inbox", "{tmp}", "--iut-outbox", "{tmp}"], ("--iut-cmd", "--iut-inbox")),
    (["--iut", "tmadkit.reference:factory", "--iut-outbox", "{tmp}"], ("--iut", "--iut-outbox")),
])
def test_two_ways_of_naming_the_implementation_are_refused(tmp_path: Path, capsys, flags, named):
    out = tmp_path / "r"
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    assert main(["conformance", "--out", str(out), *flags, "-m", "rule_TMAD_T5_9_5_9_4"]) == 2
    err = capsys.readouterr().err
    assert f"{named[0]} and {named[1]} both name the implementation under test" in err, err
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--iut", "examples/sloppy_authenticator.py:factory"], []],
                         ids=["in-process", "reference"])
def test_a_timeout_for_an_implementation_that_cannot_be_timed_is_refused(tmp_path: Path, capsys, flags):
    out = tmp_path / "r"
    assert main(["conformance", "--out", str(out), *flags, "--timeout", "5", "-m", "rule_TMAD_T5_9_5_9_4"]) == 2
    err = capsys.readouterr().err
    assert "--timeout applies to --iut-cmd and a file exchange" in err and "not timed" in err, err
    assert not out.exists()


def test_a_timeout_for_the_plugins_in_process_implementation_is_an_open_error():
    from tmadkit.bdd.plugin import _FLAGS
    from tmadkit.iut import open_adapter

    with pytest.raises(ValueError, match="--tmadkit-timeout applies to --tmadkit-iut-cmd"):
        open_adapter(iut="examples/sloppy_authenticator.py:factory", timeout=5, flags=_FLAGS)


def test_an_in_process_implementation_that_raises_is_an_error_not_a_failure(tmp_path: Path):
    # An AssertionError inside the implementation is its crash, not a wrong answer tmadkit found
    impl = tmp_path / "impl.py"
    impl.write_text("class Impl:\n"
                    "    def apply(self, actor, rule_id, facts, **kw):\n"
                    "        assert False, 'internal invariant broken'\n"
                    "    def smi_apply(self, events, readings):\n"
                    "        assert False, 'inventory corrupt'\n"
                    "def factory():\n"
                    "    return Impl()\n")
    out = tmp_path / "r"
    conformance.run(out, f"{impl}:factory", show_progress=False,
                    pytest_args=["-m", "rule_TMAD_T5_5_MCF_accept or rule_AC_2_4_CH_added"])
    by = statuses(out)
    assert set(by) == {"error"} and len(by["error"]) > 4
    for s in by["error"]:
        assert "raised AssertionError" in s["message"], s["message"]
    applied = [s for s in by["error"] if s["rule"] == "TMAD-T5.5-MCF-accept"]
    assert applied and all("internal invariant broken" in s["actual"]["output"]["traceback"] for s in applied)
    assert set(assert_junit_and_cucumber_agree(out).values()) == {"error"}


def test_implementations_in_files_of_the_same_name_are_not_confused(tmp_path: Path):
    # one process may open several (tmadkit conformance is callable; the tests run many)
    from tmadkit.iut.inprocess import load_factory

    for n, body in enumerate(["x = (", "def factory():\n    return 'first'\n", "def factory():\n    return 'second'\n"]):
        (tmp_path / str(n)).mkdir()
        (tmp_path / str(n) / "impl.py").write_text(body)
    with pytest.raises(SyntaxError):
        load_factory(f"{tmp_path / '0' / 'impl.py'}:factory")
    assert load_factory(f"{tmp_path / '1' / 'impl.py'}:factory")() == "first"
    assert load_factory(f"{tmp_path / '2' / 'impl.py'}:factory")() == "second"


def test_a_request_the_daemon_cannot_answer_does_not_stop_it(tmp_path: Path):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    # left from an earlier run that gave up on them: one whose PKI (a temporary folder of that
    # run) is gone, one whose file is gone, one that is not JSON, and one whose name carries no
    # id, so that no reply can be addressed
    (inbox / "MCF_a.xml").write_text("<x/>")
    stale = {"contract": "1", "operation": "authenticate", "as": "DCC", "at": "2026-03-01T12:00:00+00:00"}
    (inbox / "old-00001.request.json").write_text(json.dumps({**stale, "request": "old-00001", "file": "MCF_a.xml",
                                                              "pki": str(tmp_path / "gone")}))
    (inbox / "old-00002.request.json").write_text(json.dumps({**stale, "request": "old-00002", "file": "MCF_b.xml",
                                                              "pki": str(tmp_path / "gone")}))
    (inbox / "old-00003.request.json").write_text("{half")
    (inbox / ".request.json").write_text("{}")
    proc = start_daemon(["-m", "tmadkit.iut.reference_daemon"], inbox, outbox)
    try:
        by = exchange_one_scenario(tmp_path, inbox, outbox, 30)
        assert proc.poll() is None, "the daemon stopped"
    finally:
        stop(proc)
    assert by.get("passed") and not by.get("error"), by.get("error", [])[:1]
    refusals = {p.name: json.loads(p.read_text())["error"] for p in outbox.glob("old-*.verdict.json")}
    assert sorted(refusals) == [f"old-0000{n}.verdict.json" for n in (1, 2, 3)]
    assert "gone/pki.yaml" in refusals["old-00001.verdict.json"]
    assert "MCF_b.xml" in refusals["old-00002.verdict.json"] and "JSONDecodeError" in refusals["old-00003.verdict.json"]
    # answered, or set aside where no reply could be addressed: none is tried again and again
    assert sorted(p.name for p in inbox.iterdir()) == [".request.json.failed"]
    err = proc.stderr.read()
    assert "old-00001.request.json: refused" in err and ".request.json: not answered" in err


def test_a_request_the_daemon_cannot_judge_is_an_error_with_its_reason(tmp_path: Path):
    # The daemon answers {"error": why} instead of leaving the harness to wait out its timeout
    daemon = tmp_path / "daemon.py"
    daemon.write_text("import sys\n"
                      "from tmadkit.iut import serve\n"
                      "def authenticate(file_name, content, **kw):\n"
                      "    raise RuntimeError('HSM offline')\n"
                      "sys.exit(serve.daemon_main(authenticate))\n")
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    proc = start_daemon([str(daemon)], inbox, outbox)
    try:
        by = exchange_one_scenario(tmp_path, inbox, outbox, 60)
    finally:
        stop(proc)
    [s] = by["error"]
    assert s["message"] == "the implementation refused the request: RuntimeError: HSM offline", s["message"]
    assert s["actual"]["output"]["answer"] == {"error": "RuntimeError: HSM offline"}
    assert assert_junit_and_cucumber_agree(tmp_path / "report") == {s["scenario"]: "error"}
    assert not list(inbox.iterdir())     # answered, so nothing is left to be found stale


@pytest.mark.parametrize("name", ["../victim.xml", "{victim}", "sub/../../victim.xml", "..", 7])
def test_the_daemon_reads_and_deletes_only_files_in_its_inbox(tmp_path: Path, name):
    # A request naming a path would have the service read, then delete on answering, any file
    # it may write: it is refused, and the file outside is left alone
    from tmadkit.iut import serve

    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir(), outbox.mkdir()
    victim = tmp_path / "victim.xml"
    victim.write_bytes(b"<a/>")
    if name == "{victim}":
        name = str(victim)
    request = inbox / "r1.request.json"
    request.write_text(json.dumps({"contract": "1", "request": "r1", "operation": "authenticate", "file": name,
                                   "as": "DCC", "at": "2026-03-01T12:00:00+00:00", "pki": str(tmp_path)}))
    read = []
    serve.handle(lambda file_name, content, **kw: read.append(file_name) or {"accepted": True}, request, outbox)
    answer = json.loads((outbox / "r1.verdict.json").read_text())
    assert answer == {"error": f"ValueError: 'file' must name a file in the inbox, not {name!r}"}, answer
    assert read == [] and victim.read_bytes() == b"<a/>" and not request.exists()


@pytest.mark.parametrize("reply", [{"error": ""}, {"error": 3}, {"error": "no PKI", "accepted": False}])
def test_a_refusal_that_is_not_one_breaks_the_contract(reply):
    with pytest.raises(contract.IUTError, match="a refusal is"):
        contract.refusal(reply, "x.verdict.json")
    assert contract.refusal({"accepted": True}, "x.verdict.json") is None


def test_a_request_the_daemon_set_aside_is_an_error_without_waiting_for_the_timeout(tmp_path: Path):
    # The daemon cannot write even a refusal (its outbox is gone), so it sets the request aside;
    # the harness, watching an outbox of its own, hears that no answer will come
    inbox, outbox, theirs = tmp_path / "in", tmp_path / "out", tmp_path / "their-out"
    outbox.mkdir()
    proc = start_daemon(["-m", "tmadkit.iut.reference_daemon"], inbox, theirs)
    try:
        theirs.rmdir()
        theirs.write_text("not a folder")
        by = exchange_one_scenario(tmp_path, inbox, outbox, 60)
    finally:
        stop(proc)
    [s] = by["error"]
    assert s["message"].startswith("the implementation set ") and "aside without an answer" in s["message"], s["message"]
    [left] = inbox.iterdir()
    assert left.name.endswith(".request.json.failed")      # its record; the file is withdrawn
