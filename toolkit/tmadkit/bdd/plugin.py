"""pytest plugin (registered by the package's pytest11 entry point).

- `--tmadkit-iut MODULE:FACTORY` chooses an in-process implementation under test (default: the
  built-in reference implementation); `--tmadkit-iut-cmd 'CMD {file}'` a command run per file;
  `--tmadkit-inbox DIR --tmadkit-outbox DIR` a file exchange (tmadkit/iut/CONTRACT.md);
- scenarios outside what the implementation declares (roles, GroupIDs, TMAD versions;
  `--tmadkit-declaration FILE`, `--tmadkit-version V`) or that its adapter cannot drive are
  skipped and recorded as *not applicable*, with the reason;
- Gherkin tags become markers with Python-safe names (@TMAD-T5.5 -> TMAD_T5_5,
  @rule-TMAD-T5.5-MCF-accept -> rule_TMAD_T5_5_MCF_accept, @actor-DCC -> actor_DCC), so
  `-m "TMAD_T5_10 and actor_DCC"` selects by clause and actor, `tmad_version_5_1` by
  TMAD version; rules restricted to GroupIDs also get `group_XX` markers;
- every scenario carries its rule and clause ids (and its witness) as pytest user properties,
  which pytest writes as JUnit testcase properties; the plugin then moves them into each
  testcase's <system-out>, where the xunit2 schema allows them, and makes a scenario whose
  implementation broke an <error> (junit.py), under plain pytest as under `tmadkit conformance`;
- a scenario that passed under a *suspect* rule (clause text changed since review,
  citations.py) is a failure in JUnit and Cucumber JSON, with a `suspect` property;
- `--tmadkit-results PATH` writes each scenario's outcome, expected and actual verdict
  as JSON, which `tmadkit report` turns back into per-clause results.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ..errors import TmadkitError
from ..iut import DEFAULT_IUT, applicability
from . import junit

# pytest-bdd registers step definitions as fixtures in the module that declares them, so
# that module must itself be a plugin for the steps to be found from any test module.
pytest_plugins = ["tmadkit.bdd.steps", "tmadkit.bdd.smi_steps"]

_config: pytest.Config | None = None
_records: list[dict] = []
NOT_APPLICABLE = "not applicable: "     # the start of a not-applicable scenario's skip reason
_adapter = None
open_error: str | None = None     # why the implementation under test could not be opened


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tmadkit")
    group.addoption("--tmadkit-iut", default=None, metavar="MODULE:FACTORY",
                    help="implementation under test (a callable returning it); default, when no other "
                         "adapter is named: the reference")
    group.addoption("--tmadkit-iut-cmd", default=None, metavar="'CMD {file}'",
                    help="command adapter: run per file, read the JSON answer on stdout (placeholders "
                         "{file} {name} {as} {at} {pki})")
    group.addoption("--tmadkit-inbox", default=None, metavar="DIR", help="file-exchange adapter: the implementation's inbox")
    group.addoption("--tmadkit-outbox", default=None, metavar="DIR", help="file-exchange adapter: its outbox")
    group.addoption("--tmadkit-timeout", default=None, type=float, metavar="SECONDS",
                    help="how long a command or file exchange may take per scenario before it is an error (default 30)")
    group.addoption("--tmadkit-declaration", default=None, metavar="FILE",
                    help="JSON declaration of the roles, GroupIDs and TMAD versions the implementation supports")
    group.addoption("--tmadkit-version", default=None, metavar="VERSION",
                    help="TMAD version the run is for (default: every version the implementation declares)")
    group.addoption("--tmadkit-results", default=None, metavar="PATH",
                    help="write per-scenario results (JSON) for `tmadkit report`")


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config
    _records.clear()
    if not hasattr(config, "workerinput"):   # with xdist, the controller sees every worker's reports
        config.pluginmanager.register(_NothingChecked(), "tmadkit-nothing-checked")
        config.pluginmanager.register(junit.Rewriter(config), "tmadkit-junit")
    # a fresh session opens its own adapter (tmadkit conformance may run several in one process)
    global _adapter, open_error
    _adapter = open_error = None


def marker_name(tag: str) -> str:
    return re.sub(r"\W", "_", tag)


def pytest_bdd_apply_tag(tag: str, function):
    name = marker_name(tag)
    if _config is not None:
        _config.addinivalue_line("markers", f"{name}: Gherkin tag @{tag}")
    return getattr(pytest.mark, name)(function)


# The adapter options as this plugin spells them, for open_adapter's messages.
_FLAGS = {"iut": "--tmadkit-iut", "cmd": "--tmadkit-iut-cmd", "inbox": "--tmadkit-inbox", "outbox": "--tmadkit-outbox",
          "timeout": "--tmadkit-timeout"}


@pytest.fixture(scope="session")
def tmadkit_iut(pytestconfig: pytest.Config):
    """The implementation under test, behind its adapter (tmadkit.iut)."""
    from ..iut import open_adapter

    global _adapter
    opt = pytestconfig.getoption
    try:
        _adapter = open_adapter(iut=opt("tmadkit_iut"), cmd=opt("tmadkit_iut_cmd"), inbox=opt("tmadkit_inbox"),
                                outbox=opt("tmadkit_outbox"), timeout=opt("tmadkit_timeout"),
                                declaration=opt("tmadkit_declaration"), flags=_FLAGS)
    except Exception as exc:  # noqa: BLE001 - a factory that raises anything cannot be run against
        # Not an error per scenario: without the implementation no scenario means anything.
        global open_error
        known = isinstance(exc, (ValueError, ImportError, TmadkitError))
        open_error = str(exc) if known else f"{opt('tmadkit_iut') or 'the implementation'}: {type(exc).__name__}: {exc}"
        pytest.exit(f"tmadkit: {open_error}", returncode=pytest.ExitCode.USAGE_ERROR)
    return _adapter


@pytest.fixture
def tmadkit_scenario_record(request: pytest.FixtureRequest) -> dict:
    record: dict = {}
    request.node._tmadkit_record = record
    return record


def _stale_citations(rules: dict) -> dict[str, list[tuple[str, str]]]:
    """{rule id: stale citations} of the generated checks (their manifest fingerprints against
    the current catalogues): a check generated from a suspect rule."""
    from .. import sources
    from ..citations import citing_catalogue, stale

    catalogues = sources.current_catalogues()
    out = {}
    for rid, m in rules.items():
        clauses = m.get("clauses") or []
        if clauses and (found := stale(clauses, citing_catalogue(catalogues, clauses[0]["id"].split(":", 1)[0]))):
            out[rid] = found
    return out


def _rules_in_tag_order(item: pytest.Item, rids: list[str]) -> list[str]:
    """The scenario's rules in the order its @rule- tags are written (the tag lines just above
    its Scenario line); alphabetical where the file cannot be read."""
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    rids = sorted(set(rids))
    template = scenario_wrapper_template_registry.get(getattr(item, "function", None))
    if template is None or len(rids) < 2:
        return rids
    lines = _feature_lines(template.feature.filename)
    tags: list[str] = []
    i = template.line_number - 2            # 0-based index of the line above "Scenario:"
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("@"):
        tags = lines[i].split() + tags
        i -= 1
    order = {t[len("@rule-"):]: n for n, t in enumerate(tags) if t.startswith("@rule-")}
    return sorted(rids, key=lambda r: (order.get(r, len(order)), r))


_FEATURE_LINES: dict[str, list[str]] = {}


def _feature_lines(path: str) -> list[str]:
    if path not in _FEATURE_LINES:
        try:
            _FEATURE_LINES[path] = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError:
            _FEATURE_LINES[path] = []
    return _FEATURE_LINES[path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from .. import registry

    try:
        rules = registry.manifest()["rules"]
    except Exception:  # no generated artefacts: nothing to annotate
        return
    by_marker = {marker_name("rule-" + rid): rid for rid in rules}
    stale = _stale_citations(rules)
    for item in items:
        # a path scenario exercises several rules: its record is filed under the first (in the
        # feature file's tag order, never the order pytest-bdd's tag set happens to give) and
        # shown on every one; the clauses of all of them are its properties, as they are its tags
        rids = _rules_in_tag_order(item, [by_marker[m.name] for m in item.iter_markers() if m.name in by_marker])
        if not rids:
            continue
        rid = item._tmadkit_rule_id = rids[0]
        item._tmadkit_rule_ids = rids
        item.user_properties.append(("rule", rid))
        for c in dict.fromkeys(c["id"] for r in rids for c in rules[r]["clauses"]):
            item.user_properties.append(("clause", c))
        item.user_properties.append(("actor", rules[rid]["actor"]))
        item._tmadkit_stale = [(r, cid, why) for r in rids for cid, why in stale.get(r, [])]
        for r, cid, why in item._tmadkit_stale:
            item.user_properties.append(("suspect", f"{r}: {cid} {why} since review"))
        for name in applicability.markers(rid):
            if _config is not None:
                _config.addinivalue_line("markers", f"{name}: GroupID the rule applies to")
            item.add_marker(name)


@pytest.hookimpl(trylast=True)
def pytest_bdd_before_step(request: pytest.FixtureRequest, feature, scenario, step, step_func) -> None:
    """Before a scenario's first step: is it applicable to this implementation?  If not, skip
    it with the reason; the scenario report's steps are marked so Cucumber JSON says skipped."""
    if step is not scenario.steps[0]:
        return
    item = request.node
    rid = getattr(item, "_tmadkit_rule_id", None)
    if rid is None:
        return
    example = request.getfixturevalue("_pytest_bdd_example") or {}
    reason = applicability.reason(request.getfixturevalue("tmadkit_iut"), rid, example.get("witness"),
                                  smi=any(m.name.startswith("smi_") for m in item.iter_markers()),
                                  target_version=request.config.getoption("tmadkit_version"))
    if reason is None:
        return
    record = request.getfixturevalue("tmadkit_scenario_record")
    record.update(rule=rid, witness=example.get("witness"), not_applicable=reason)
    from pytest_bdd import reporting

    report = reporting.scenario_reports_registry.get(item)
    if report is not None:
        report.fail()   # pytest-bdd's Cucumber JSON calls a skipped step "passed" unless it is marked
    pytest.skip(f"{NOT_APPLICABLE}{reason}")


def pytest_bdd_step_error(request: pytest.FixtureRequest, feature, scenario, step, step_func, step_func_args,
                          exception) -> None:
    record = getattr(request.node, "_tmadkit_record", None)
    if record is not None:
        record["failed_step"] = f"{step.keyword} {step.name}".strip()


# trylast: the innermost wrapper, so the outcome is settled here (a suspect pass made a failure)
# before pytest-bdd's own wrapper copies the scenario's step results for Cucumber JSON.
@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    record = getattr(item, "_tmadkit_record", None)
    if record is None or report.when != "call" and not (report.when == "setup" and report.failed):
        return
    if report.passed:
        status = "passed"
    elif report.skipped and "not_applicable" in record:
        status = "not applicable"
    elif call.excinfo is not None and call.excinfo.errisinstance(AssertionError):
        status = "failed"
    else:
        status = "error"
    record.setdefault("rule", getattr(item, "_tmadkit_rule_id", None))
    # Known only now, so appended to the item (pytest's JUnit takes the properties of its last
    # report) and to this report (which it takes when teardown fails too).
    for prop in ([("witness", str(record["witness"]))] if record.get("witness") else []) + (
            [(junit.STATUS, status)] if status == "error" else []):
        item.user_properties.append(prop)
        report.user_properties.append(prop)
    setattr(report, junit.SCENARIO, True)    # a report attribute: xdist carries it to its controller
    if len(getattr(item, "_tmadkit_rule_ids", ())) > 1:
        record["rules"] = item._tmadkit_rule_ids     # a path scenario: shown on each of its rules
    stale = getattr(item, "_tmadkit_stale", None)
    if stale:
        record["suspect"] = [f"{r}: {cid} {why}" for r, cid, why in stale]
        if status == "passed":
            _fail_as_suspect(item, report, stale)
    _records.append({
        "test": item.nodeid, "status": status, "scenario": item.name,
        "message": (None if report.passed else record.get("not_applicable") if status == "not applicable"
                    else str(call.excinfo.value) if call.excinfo else report.longreprtext),
        **record,
    })


def _fail_as_suspect(item: pytest.Item, report: pytest.TestReport, stale: list[tuple[str, str, str]]) -> None:
    """A scenario that passed under a suspect rule is a failure in JUnit and Cucumber JSON, whose
    readers see only pass or fail; results.json keeps that it passed, and says it is suspect."""
    from pytest_bdd import reporting

    rules = sorted({r for r, _, _ in stale})
    report.outcome = "failed"
    report.longrepr = ("suspect: the scenario passed, but its rule cites clause text that changed since the rule "
                       "was reviewed (" + "; ".join(f"{r}: {cid} {why}" for r, cid, why in stale) + "), so it proves "
                       "nothing about the current text; read the change, then `tmadkit review --rule "
                       + " --rule ".join(rules) + "`")
    bdd_report = reporting.scenario_reports_registry.get(item)
    if bdd_report is not None:
        bdd_report.fail()


class _NothingChecked:
    """A session in which every scenario was not applicable checked nothing: it ends with exit
    5, pytest's "nothing ran", which CI treats as a failure, not with a "0 failed" that reads as
    a pass.  One per session, not module state: tmadkit conformance runs sessions inside others."""

    def __init__(self):
        self.checked = self.not_applicable = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed and report.when == "call" or report.failed:
            self.checked += 1
        elif report.skipped and isinstance(report.longrepr, tuple) and NOT_APPLICABLE in str(report.longrepr[2]):
            self.not_applicable += 1

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if session.exitstatus != pytest.ExitCode.OK or self.checked or not self.not_applicable:
            return
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        terminal = session.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(f"tmadkit: no selected scenario applies to the implementation under test "
                                f"({self.not_applicable} not applicable): nothing was checked", red=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("tmadkit_results", None)
    if not path:
        return
    adapter = _adapter   # None when no scenario opened it
    named = session.config.getoption("tmadkit_iut") or DEFAULT_IUT
    data = {"implementation": adapter.description if adapter else named,
            "adapter": adapter.kind if adapter else None,
            "declaration": adapter.declaration.to_dict() if adapter else None,
            "tmad_version": session.config.getoption("tmadkit_version"),
            "scenarios": sorted(_records, key=lambda r: (r.get("rule") or "", r.get("witness") or "", r["test"]))}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")

