"""Run the generated features against an implementation and write the report.

pytest (with pytest-bdd and this package's plugin) runs in-process; results come back
through the plugin's results file, so the same data feeds the HTML, Markdown and JSON
reports, JUnit and Cucumber JSON.
"""
from __future__ import annotations

import json
import platform
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from . import __version__, atomic, bundle, registry, report_html, sources, traceability
from .errors import InputError, TmadkitError
from .exports import completed_run_files
from .iut import DEFAULT_IUT
from .rules import load_all

# The pytest-bdd module that binds every feature; passed to pytest by path, never imported here.
FEATURES_MODULE = Path(__file__).resolve().parent / "bdd" / "test_features.py"
REPORT_FILES = ("report.html", "report.md", "report.json", "results.json", "junit.xml", "cucumber.json")


class _ProgressPlugin:
    """Advances a rich progress bar per scenario, with a running tally, and keeps collection errors."""

    def __init__(self, progress: Progress | None):
        self.progress, self.task, self.collect_errors = progress, None, []
        self.tally = {"passed": 0, "failed": 0, "not applicable": 0, "error": 0}

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(f"{report.nodeid}: {report.longreprtext.strip().splitlines()[-1]}")

    def pytest_collection_finish(self, session):
        if self.progress is not None:
            self.task = self.progress.add_task("scenarios", total=len(session.items), tally="")

    def pytest_runtest_logfinish(self, nodeid, location):
        from .bdd import plugin   # its records say passed / failed / not applicable / error

        if plugin._records and plugin._records[-1]["test"] == nodeid:
            self.tally[plugin._records[-1]["status"]] += 1
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1,
                                 tally=", ".join(f"{v} {k}" for k, v in self.tally.items() if v))


# Adapter options (tmadkit.iut) -> the plugin's command-line flags.
IUT_OPTIONS = {"cmd": "--tmadkit-iut-cmd", "inbox": "--tmadkit-inbox", "outbox": "--tmadkit-outbox",
               "timeout": "--tmadkit-timeout", "declaration": "--tmadkit-declaration", "version": "--tmadkit-version"}


def run(out: Path, iut: str | None = None, *, show_progress: bool = True,
        pytest_args: list[str] | None = None, iut_options: dict | None = None) -> dict:
    """`iut`: an in-process implementation, MODULE:FACTORY; `iut_options`: cmd, inbox, outbox,
    timeout, declaration, version (see tmadkit.iut).  With neither iut, cmd nor inbox and
    outbox, the run is against the reference."""
    selection = pytest_args or []
    for flag, expr in zip(selection, selection[1:]):
        if flag in ("-m", "-k"):
            check_expression(flag, expr)
    adapter_args = [f"{IUT_OPTIONS[k]}={v}" for k, v in (iut_options or {}).items() if v is not None]
    if iut:
        adapter_args.append(f"--tmadkit-iut={iut}")
    with tempfile.TemporaryDirectory(prefix="tmadkit-run-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")  # isolate from the caller's pytest config
        results_path = Path(tmp) / "results.json"
        args = [str(FEATURES_MODULE), "-c", str(ini), "--rootdir", tmp, "-p", "no:cacheprovider",
                "-p", "no:terminal", f"--tmadkit-results={results_path}",
                f"--junitxml={Path(tmp) / 'junit.xml'}", f"--cucumberjson={Path(tmp) / 'cucumber.json'}",
                "-o", "junit_family=xunit2", *adapter_args, *(pytest_args or [])]
        progress = Progress(TextColumn("[bold]conformance[/]"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[tally]}"), transient=True, disable=not show_progress)
        plugin = _ProgressPlugin(progress if show_progress else None)
        with progress:
            code = pytest.main(args, plugins=[plugin])
        if plugin.collect_errors:
            raise TmadkitError("features could not be collected:\n  " + "\n  ".join(plugin.collect_errors))
        if code == pytest.ExitCode.USAGE_ERROR:
            from .bdd import plugin as bdd_plugin

            if bdd_plugin.open_error is None:   # pytest refused its options: the caller's, not the implementation's
                raise TmadkitError(f"the run's options were refused (pytest's message is above): nothing was run, "
                                   f"and {out} was left as it was")
            raise TmadkitError(f"the implementation under test could not be opened: "
                               f"{bdd_plugin.open_error}; nothing was written to {out}")
        if code == pytest.ExitCode.NO_TESTS_COLLECTED and results_path.is_file():
            _refuse_if_nothing_applied(json.loads(results_path.read_text(encoding="utf-8")), out)
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            raise TmadkitError(f"no scenario matches the selection ({' '.join(pytest_args or [])}): nothing was run, "
                               f"and {out} was left as it was")
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not results_path.is_file():
            raise TmadkitError(f"the conformance run did not complete (pytest exit code {int(code)})")
        results = json.loads(results_path.read_text(encoding="utf-8"))
        _refuse_if_nothing_applied(results, out)
        run_files = {name: (Path(tmp) / name).read_text(encoding="utf-8") for name in ("junit.xml", "cucumber.json")}
    results["run"] = {"implementation": results.get("implementation") or iut or DEFAULT_IUT,
                      "adapter": results.get("adapter"), "declaration": results.get("declaration"),
                      "tmad_version": results.get("tmad_version"), "tmadkit": __version__,
                      "python": platform.python_version()}
    # No wall-clock time in results or reports: reruns over the same inputs give the same bytes;
    # the run's time is printed and recorded once, in the evidence bundle's manifest.
    run_files["junit.xml"], run_files["cucumber.json"] = completed_run_files(run_files["junit.xml"],
                                                                             run_files["cucumber.json"], results)
    run_files["results.json"] = json.dumps(results, indent=2, sort_keys=True) + "\n"
    return write_report(out, results, run_files)


def check_expression(flag: str, expr: str) -> None:
    """InputError unless `expr` is a valid -m (marker) or -k (keyword) expression.  Checked
    before the run, with pytest's own parser, because pytest reports a bad one as a usage
    error, which would otherwise read as an implementation that could not be opened.  The parser
    is pytest's private module: a pytest without it leaves the check to the run, whose usage
    error is then reported as the caller's options refused."""
    try:
        from _pytest.mark.expression import Expression
    except ImportError:
        return

    try:
        Expression.compile(expr)
    except Exception as exc:  # noqa: BLE001 - SyntaxError from pytest 9, its own ParseError before
        column = getattr(exc, "offset", None) or getattr(exc, "column", None)
        message = getattr(exc, "msg", None) or getattr(exc, "message", None) or str(exc)
        what = "marker" if flag == "-m" else "keyword"
        raise InputError(f"{flag} {expr!r}: the {what} expression is invalid: "
                         + (f"at column {column}: {message}" if column else message)) from None


def _refuse_if_nothing_applied(results: dict, out: Path) -> None:
    """A run in which every selected scenario was not applicable checked nothing: like a
    selection that matches nothing, it is the caller's selection (or declaration, or adapter)
    that is wrong, not the implementation, so it is refused and the report folder left as it was,
    rather than a report of "0 failed" that a CI step would take for success."""
    scenarios = results.get("scenarios") or []
    if not scenarios or any(s["status"] != "not applicable" for s in scenarios):
        return
    reasons = Counter(s.get("message") or "no reason given" for s in scenarios)
    shown = [f"{n} x {why}" for why, n in reasons.most_common(3)]
    more = f"\n  … and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    raise TmadkitError(f"no selected scenario applies to {results.get('implementation')} ({len(scenarios)} not "
                       f"applicable): nothing was checked, and {out} was left as it was. Why:\n  "
                       + "\n  ".join(shown) + more)


def version_history() -> dict[str, list[dict]]:
    """Each current clause's standing in the document's other catalogued versions."""
    from . import catalogue, diff

    out: dict[str, list[dict]] = {}
    for document, current in sources.current_catalogues().items():
        others = [catalogue.load(document, v) for v in sources.versions(document) if v != current.version]
        out.update(diff.history(current, others))
    return out


def write_report(out: Path, results: dict | None, run_files: dict[str, str] | None = None) -> dict:
    """Every file of the report is rendered before any is written, and they are written all or
    none (atomic.write_texts): a failure leaves the folder as it was, byte for byte, never one
    run's JUnit beside another run's report."""
    model = traceability.build(sources.current_catalogues(), load_all(), registry.manifest(), results,
                               history=version_history(), source_disputes=sources.source_disputes())
    files = {**(run_files or {}),
             "report.json": json.dumps(model, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
             "report.md": traceability.to_markdown(model, with_text=True),
             "report.html": report_html.render(model),
             **bundle.exports(model)}
    atomic.write_texts(out, files)
    return model
