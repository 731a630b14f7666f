"""examples/sloppy_authenticator.py fails exactly the scenarios of the clauses it breaks,
through each adapter, and the reports name them."""
from __future__ import annotations

import json
import shlex
import sys
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from test_iut import start_daemon, statuses, stop
from tmadkit import conformance
from tmadkit.commands.conformance import summary_lines
from tmadkit.rules import load_all

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sloppy_authenticator.py"
DECLARATION = EXAMPLE.with_suffix(".json")

# Mistake 2 (5.9.4 before 5.9.2): the 5.9.2 witnesses whose broken signature also leaves the
# certificate unresolved are reported at 5.9.4, and `other-key` (KeyInfo names another
# certificate the Authenticator holds, an S1SP's) at 5.9.3, whose role check now comes before the
# signature's.  The others (a changed digest or signature value, a second signature...) are
# still caught at 5.9.1 or 5.9.2, so they pass.
WRONG_ORDER = {("TMAD-T5.9-5.9.2", w) for w in
               ("der-signature-value", "ds-object", "extra-transform", "keyinfo-certificate", "other-key",
                "reference-uri", "unknown-serial")}
# Mistake 1 (no anti-replay): every failing witness of the Table 5.7 Authenticator rules.
NO_ANTI_REPLAY = {(r.id, w.id) for r in load_all() if fnmatchcase(r.id, "TMAD-T5.7-*-authenticator")
                  for w in r.witnesses if w.expect == "fail"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sloppy")
    out = {}
    conformance.run(base / "in-process", f"{EXAMPLE}:factory", show_progress=False)
    out["in-process"] = base / "in-process"
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(EXAMPLE))} check {{file}} --as {{as}} --at {{at}} --pki {{pki}}"
    conformance.run(base / "command", show_progress=False,
                    iut_options={"cmd": cmd, "declaration": DECLARATION, "timeout": 60})
    out["command"] = base / "command"
    proc = start_daemon([str(EXAMPLE), "serve"], base / "inbox", base / "outbox")
    try:
        conformance.run(base / "file-exchange", show_progress=False,
                        iut_options={"inbox": base / "inbox", "outbox": base / "outbox",
                                     "declaration": DECLARATION, "timeout": 60})
    finally:
        stop(proc)
    out["file exchange"] = base / "file-exchange"
    return out


def expected_failures(adapter: str) -> set[tuple[str, str]]:
    # anti-replay is judged from counter histories (facts): only the in-process adapter can drive it
    return WRONG_ORDER | (NO_ANTI_REPLAY if adapter == "in-process" else set())


@pytest.mark.parametrize("adapter", ["in-process", "command", "file exchange"])
def test_fails_exactly_the_scenarios_of_the_clauses_it_breaks(runs, adapter):
    by = statuses(runs[adapter])
    assert not by.get("error"), [s["message"] for s in by["error"]][:3]
    assert {(s["rule"], s["witness"]) for s in by["failed"]} == expected_failures(adapter)
    assert by["passed"]
    if adapter != "in-process":
        replay = [s for s in by["not applicable"] if fnmatchcase(s["rule"], "TMAD-T5.7-*-authenticator")]
        assert replay and all("from facts, not from a file" in s["message"] for s in replay)


@pytest.mark.parametrize("adapter", ["in-process", "command", "file exchange"])
def test_the_report_names_the_failing_clauses(runs, adapter):
    model = json.loads((runs[adapter] / "report.json").read_text())
    failing_rules = {rule for rule, _ in expected_failures(adapter)}
    assert {r["id"] for r in model["rules"].values() if r["result"] == "failed"} == failing_rules
    broken = {c["id"] for rid in failing_rules for c in model["rules"][rid]["clauses"]}
    assert {c["id"] for c in model["clauses"] if c["result"] == "failed"} == broken
    assert "TMAD:T5.9/5.9.2" in broken
    md = (runs[adapter] / "report.md").read_text()
    assert "## Failures against this implementation" in md
    assert "| TMAD-T5.9-5.9.2 | TMAD:T5.9/5.9.2" in md and "unknown-serial" in md
    assert "rejected it at step 5.9.4" in md        # the implementation's actual answer
    summary = "\n".join(summary_lines(model, runs[adapter]))
    assert "FAILED TMAD-T5.9-5.9.2 [TMAD:T5.9/5.9.2" in summary
    html = (runs[adapter] / "report.html").read_text()
    assert "failing step" in html and "rejected at 5.9.4" in html
    assert f"Failures against this implementation ({len(expected_failures(adapter))})" in html
