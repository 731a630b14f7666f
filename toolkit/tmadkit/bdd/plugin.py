"""pytest plugin (registered by the package's pytest11 entry point).

- `--tmadkit-iut MODULE:FACTORY` chooses the implementation under test (default: the
  built-in reference implementation);
- Gherkin tags become markers with Python-safe names (@TMAD-T5.5 -> TMAD_T5_5,
  @rule-TMAD-T5.5-MCF-accept -> rule_TMAD_T5_5_MCF_accept, @actor-DCC -> actor_DCC), so
  `-m "TMAD_T5_10 and actor_DCC"` selects by clause and actor;
- every scenario carries its rule and clause ids as JUnit properties;
- `--tmadkit-results PATH` writes each scenario's outcome, expected and actual verdict
  as JSON, which `tmadkit report` turns back into per-clause results.
"""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

# pytest-bdd registers step definitions as fixtures in the module that declares them, so
# that module must itself be a plugin for the steps to be found from any test module.
pytest_plugins = ["tmadkit.bdd.steps", "tmadkit.bdd.smi_steps"]

_config: pytest.Config | None = None
_records: list[dict] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tmadkit")
    group.addoption("--tmadkit-iut", default="tmadkit.reference:factory", metavar="MODULE:FACTORY",
                    help="implementation under test (a callable returning it); default: the reference")
    group.addoption("--tmadkit-results", default=None, metavar="PATH",
                    help="write per-scenario results (JSON) for `tmadkit report`")


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config
    _records.clear()


def marker_name(tag: str) -> str:
    return re.sub(r"\W", "_", tag)


def pytest_bdd_apply_tag(tag: str, function):
    name = marker_name(tag)
    if _config is not None:
        _config.addinivalue_line("markers", f"{name}: Gherkin tag @{tag}")
    return getattr(pytest.mark, name)(function)


def load_factory(spec: str):
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise pytest.UsageError(f"--tmadkit-iut {spec!r}: expected MODULE:FACTORY")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise pytest.UsageError(f"--tmadkit-iut {spec!r}: {exc}") from None


@pytest.fixture(scope="session")
def tmadkit_iut(pytestconfig: pytest.Config):
    return load_factory(pytestconfig.getoption("tmadkit_iut"))()


@pytest.fixture
def tmadkit_scenario_record(request: pytest.FixtureRequest) -> dict:
    record: dict = {}
    request.node._tmadkit_record = record
    return record


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from .. import registry

    try:
        rules = registry.manifest()["rules"]
    except Exception:  # no generated artefacts: nothing to annotate
        return
    by_marker = {marker_name("rule-" + rid): rid for rid in rules}
    for item in items:
        for mark in item.iter_markers():
            rid = by_marker.get(mark.name)
            if rid:
                item._tmadkit_rule_id = rid
                item.user_properties.append(("rule", rid))
                for c in rules[rid]["clauses"]:
                    item.user_properties.append(("clause", c["id"]))
                item.user_properties.append(("actor", rules[rid]["actor"]))
                break


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    record = getattr(item, "_tmadkit_record", None)
    if record is None or report.when != "call" and not (report.when == "setup" and report.failed):
        return
    if report.passed:
        status = "passed"
    elif call.excinfo is not None and call.excinfo.errisinstance(AssertionError):
        status = "failed"
    else:
        status = "error"
    record.setdefault("rule", getattr(item, "_tmadkit_rule_id", None))
    _records.append({
        "test": item.nodeid, "status": status, "scenario": item.name,
        "message": None if report.passed else str(call.excinfo.value) if call.excinfo else report.longreprtext,
        **record,
    })


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("tmadkit_results", None)
    if not path:
        return
    iut = session.config.getoption("tmadkit_iut")
    data = {"implementation": iut,
            "scenarios": sorted(_records, key=lambda r: (r.get("rule") or "", r.get("witness") or "", r["test"]))}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
