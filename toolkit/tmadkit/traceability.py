"""Clause → rule(s) → generated check(s) → scenario(s) → last result.

One model, three renderings (JSON, Markdown, HTML in report_html.py).  Every catalogued
clause is a row, encoded or not: gaps are rows, never omissions.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from .catalogue import COUNTED_KINDS, Catalogue
from .citations import citing_catalogue, stale
from .rules import Rule, RuleSet

# Clause statuses, from the catalogue's and the rules' point of view.
CHECKED, NOT_TESTABLE, NOT_ENCODED = "checked", "not testable", "not yet encoded"
# Outcomes of a run, per scenario and rolled up per rule and clause.
PASSED, FAILED, NOT_APPLICABLE, ERROR, NOT_RUN = "passed", "failed", "not applicable", "error", "not run"
# A rule that ran without failing but cites clause text changed (or removed) since it was
# reviewed: never counted as passed (citations.py).
SUSPECT = "suspect"


def _rule_outcome(scenarios: list[dict]) -> str:
    if not scenarios:
        return NOT_RUN
    statuses = {s["status"] for s in scenarios}
    for s in (ERROR, FAILED):
        if s in statuses:
            return s
    if statuses == {NOT_APPLICABLE}:
        return NOT_APPLICABLE
    return PASSED


def vacuity(rule_testable: bool, runs: list[dict], ran: bool) -> list[str]:
    """Why a rule's result may say nothing: it never ran, its check never returned a failing
    verdict in this run, or every run was not applicable.  Empty when the run exercised it."""
    if not rule_testable or not ran:
        return []
    if not runs:
        return ["never run"]
    verdicts = {(r.get("actual") or {}).get("status") for r in runs}
    flags = []
    if verdicts <= {"not_applicable", None} or {r["status"] for r in runs} == {NOT_APPLICABLE}:
        flags.append("only not applicable")
    if "fail" not in verdicts:
        flags.append("never failed")
    return flags


def _clause_outcome(outcomes: list[str]) -> str:
    if not outcomes:
        return NOT_RUN
    for s in (ERROR, FAILED, NOT_RUN, SUSPECT):
        if s in outcomes:
            return s
    if set(outcomes) == {NOT_APPLICABLE}:
        return NOT_APPLICABLE
    return PASSED


def _citing(by_clause: dict, clause_id: str | None) -> list[str]:
    if not clause_id or ":" not in clause_id:
        return []          # "TMAD (whole document)" and the like: no one clause
    return [r.id for r in by_clause.get((clause_id.split(":", 1)[0], clause_id), [])]


def _row_statuses(cat: Catalogue, table, by_clause: dict) -> Counter:
    """How the rows of a table stand: {CHECKED: n, NOT_TESTABLE: n, NOT_ENCODED: n}."""
    out: Counter = Counter()
    prefix = table.id + "/"
    for e in cat.entries:
        if e.kind == "table-row" and e.id.startswith(prefix):
            cited = by_clause.get((cat.document, e.id), [])
            out[CHECKED if any(r.testable for r in cited) else NOT_TESTABLE if cited else NOT_ENCODED] += 1
    return out


def build(catalogues: dict[str, Catalogue], ruleset: RuleSet, manifest: dict,
          results: dict | None = None, history: dict[str, list[dict]] | None = None,
          source_disputes: list[dict] | None = None) -> dict[str, Any]:
    """The traceability model.  `results`: a conformance run's results.json, or None.
    `source_disputes`: readings of the source text left open (sources.source_disputes)."""
    by_clause: dict[str, list[Rule]] = defaultdict(list)
    for rule in ruleset:
        for cid in dict.fromkeys(rule.clause_ids):
            by_clause[(cid.split(":", 1)[0], cid)].append(rule)  # an id names its document (TMAD:3.3 in an AC file)
    run_by_rule: dict[str, list[dict]] = defaultdict(list)
    for s in (results or {}).get("scenarios", []):
        for rid in s.get("rules") or [s["rule"]]:   # a path scenario counts for each rule it exercises
            run_by_rule[rid].append(s)

    rules_out: dict[str, dict] = {}
    for rule in ruleset:
        m = manifest["rules"].get(rule.id, {})
        stale_citations = stale(rule.clauses, citing_catalogue(catalogues, rule.document))
        suspect = [cid for cid, _ in stale_citations]
        scen = run_by_rule.get(rule.id, [])
        result = _rule_outcome(scen) if rule.testable and results is not None else None
        if suspect and result in (PASSED, NOT_APPLICABLE):
            result = SUSPECT       # a check written against other words proves nothing about these
        rules_out[rule.id] = {
            "id": rule.id, "title": rule.title, "document": rule.document, "actor": rule.actor,
            "testable": rule.testable, "reason": rule.reason, "file": rule.file, "line": rule.line,
            "clauses": [{"id": c.id, "fingerprint": c.fingerprint, "quote": c.quote} for c in rule.clauses],
            "check": f"{m['module']}::{m['function']}" if "module" in m else None,
            "scenario": f"{m['feature']}: {m['scenario']}" if "feature" in m else None,
            "witnesses": len(rule.witnesses),
            "examples": m.get("examples", m.get("witnesses", 0)),
            "outcome": rule.outcome,
            "disputed": rule.disputed, "suspect": suspect, "smi": m.get("smi"),
            "stale_citations": [{"clause": cid, "why": why} for cid, why in stale_citations],
            "result": result,
            "runs": scen,
            "vacuity": vacuity(rule.testable, scen, results is not None),
        }

    documents, clauses = [], []
    for key in sorted(catalogues):
        cat = catalogues[key]
        documents.append({"document": cat.document, "version": cat.version, "source": cat.source,
                          "source_sha256": cat.source_sha256, "entries": len(cat.entries),
                          "counted": len(cat.counted())})
        for e in cat.entries:
            if e.kind == "heading":
                continue
            cited = by_clause.get((cat.document, e.id), [])
            testable = [r for r in cited if r.testable]
            if testable:
                status = CHECKED
            elif cited:
                status = NOT_TESTABLE
            else:
                status = NOT_ENCODED
            rows = _row_statuses(cat, e, by_clause) if e.kind == "table" and not cited else None
            if rows:      # a table no rule cites as a whole stands as its rows do
                status = CHECKED if rows[CHECKED] else NOT_TESTABLE if rows[NOT_TESTABLE] else NOT_ENCODED
            outcomes = [rules_out[r.id]["result"] for r in testable]
            clauses.append({
                "id": e.id, "document": cat.document, "version": cat.version, "kind": e.kind,
                "number": e.number, "title": e.title, "text": e.text, "fingerprint": e.fingerprint,
                "lines": list(e.lines), "counted": e.kind in COUNTED_KINDS, "status": status,
                "reason": "; ".join(r.reason for r in cited if not r.testable and r.reason) or None,
                "rules": [r.id for r in cited],
                "suspect": any(e.id in rules_out[r.id]["suspect"] for r in cited),
                "disputed": any(r.disputed for r in cited),
                "actors": sorted({r.actor for r in cited}),
                "group_ids": sorted({g for r in cited for g in r.applies_to.get("group_ids", [])}),
                "result": _clause_outcome(outcomes) if testable and results is not None else None,
                **({"rows": dict(sorted(rows.items()))} if rows else {}),
                **({"history": history.get(e.id, [])} if history is not None else {}),
            })

    disputes: dict[str, list[dict]] = defaultdict(list)
    for rule in ruleset:
        if rule.disputed:
            disputes[rule.disputed["question"]].append({
                "rule": rule.id, "reading": rule.disputed["reading"], "evidence": rule.disputed["evidence"],
                "clauses": rule.clause_ids, "result": rules_out[rule.id]["result"]})

    return {
        "generator": manifest.get("generator"),
        "run": (results or {}).get("run"),
        "summary": {**summarise(clauses, rules_out, results), "source_disputes": len(source_disputes or [])},
        "documents": documents,
        "clauses": clauses,
        "rules": rules_out,
        "disputes": [{"question": q, "readings": r} for q, r in sorted(disputes.items())],
        # open readings of the source text itself: the catalogue keeps it as printed; shown with
        # the rules that cite the clause, whose verdicts rest on the printed text
        "source_disputes": [{**d, "rules": _citing(by_clause, d["clause"])} for d in (source_disputes or [])],
    }


def summarise(clauses: list[dict], rules: dict[str, dict], results: dict | None) -> dict[str, Any]:
    counted = [c for c in clauses if c["counted"]]
    per_doc: dict[str, Counter] = defaultdict(Counter)
    for c in counted:
        per_doc[c["document"]][c["status"]] += 1
        per_doc[c["document"]]["total"] += 1
    testable_rules = [r for r in rules.values() if r["testable"]]
    scenarios = list({s["test"]: s for r in testable_rules for s in r["runs"]}.values())   # a path scenario once
    out: dict[str, Any] = {
        "clauses": len(counted),
        "checked": sum(1 for c in counted if c["status"] == CHECKED),
        "not_testable": sum(1 for c in counted if c["status"] == NOT_TESTABLE),
        "not_encoded": sum(1 for c in counted if c["status"] == NOT_ENCODED),
        "suspect_clauses": sum(1 for c in counted if c["suspect"]),
        "disputed_clauses": sum(1 for c in counted if c["disputed"]),
        "by_document": {d: dict(sorted(c.items())) for d, c in sorted(per_doc.items())},
        "rules": len(rules),
        "testable_rules": len(testable_rules),
        "untestable_records": len(rules) - len(testable_rules),
        "witnesses": sum(r["witnesses"] for r in testable_rules),
        "scenario_examples": sum(r["examples"] for r in testable_rules),
        "suspect_rules": sum(1 for r in rules.values() if r["suspect"]),
        "disputed_rules": sum(1 for r in rules.values() if r["disputed"]),
        "vacuous_rules": sum(1 for r in rules.values() if r.get("vacuity")),
    }
    # --- SMI lifecycle: transitions exercised and refusals proven (state machines only) ---
    smi = [r for r in rules.values() if r.get("smi")]
    if smi:
        ok = (lambda r: r["result"] == PASSED) if results is not None else (lambda r: bool(r["scenario"]))
        kinds = {k: [r for r in smi if r["smi"] == k] for k in ("transition", "refusal")}
        covered = {k: sum(1 for r in v if ok(r)) for k, v in kinds.items()}
        out["transition_coverage"] = {
            "basis": "scenarios passed" if results is not None else "scenarios generated",
            "transitions": len(kinds["transition"]), "transitions_exercised": covered["transition"],
            "refusals": len(kinds["refusal"]), "refusals_proven": covered["refusal"],
            "percent": round(100.0 * sum(covered.values()) / len(smi), 1),
            "disputed": sorted(r["id"] for r in smi if r["disputed"]),
        }
    # --- end SMI lifecycle ---
    if results is not None:
        tally = Counter(s["status"] for s in scenarios)
        out["scenarios"] = {"total": len(scenarios), PASSED: tally[PASSED], FAILED: tally[FAILED],
                            NOT_APPLICABLE: tally[NOT_APPLICABLE], ERROR: tally[ERROR]}
        out["clause_results"] = dict(sorted(Counter(c["result"] for c in counted if c["result"]).items()))
    return out


def failures(model: dict[str, Any]) -> list[tuple[dict, dict]]:
    """(rule, scenario run) for each scenario that failed or erred, once: a path scenario, shown
    on every rule it exercises, is listed under the rule it is filed under."""
    return [(r, run) for r in model["rules"].values() for run in r.get("runs", [])
            if run["status"] in (FAILED, ERROR) and run.get("rule", r["id"]) == r["id"]]


def suspect_results(model: dict[str, Any]) -> list[dict]:
    """The rules whose result in this run is suspect (ran without failing, clause text changed)."""
    return [r for r in model["rules"].values() if r.get("result") == SUSPECT]


def to_markdown(model: dict[str, Any], with_text: bool = False) -> str:
    s = model["summary"]
    lines = ["# tmadkit traceability", ""]
    if model.get("generator"):
        lines.append(f"Generated by {model['generator']}.")
    if model.get("run"):
        run = model["run"]
        lines.append(f"Run against **{run.get('implementation')}** (the run's time is not in this report, so that a rerun gives the same bytes; `--bundle` records it in the evidence bundle's manifest).")
    lines += ["", "## Summary", "",
              f"- Clauses, definitions and table rows: {s['clauses']}",
              f"- Checked by at least one rule: {s['checked']} of {s['clauses']}",
              f"- Not testable (with reason): {s['not_testable']} of {s['clauses']}",
              f"- Not yet encoded: {s['not_encoded']} of {s['clauses']}",
              f"- Rules: {s['rules']} ({s['testable_rules']} testable, {s['untestable_records']} not-testable records), "
              f"{s['witnesses']} witnesses",
              f"- Suspect rules: {s['suspect_rules']} of {s['rules']}; disputed rules: {s['disputed_rules']} of {s['rules']}"]
    if "transition_coverage" in s:
        tc = s["transition_coverage"]
        lines.append(f"- SMI transition coverage ({tc['basis']}): {tc['percent']}% — {tc['transitions_exercised']} of "
                     f"{tc['transitions']} transitions exercised, {tc['refusals_proven']} of {tc['refusals']} refusals "
                     f"proven; disputed: {', '.join(tc['disputed']) or 'none'}")
    if "scenarios" in s:
        sc = s["scenarios"]
        lines.append(f"- Scenarios: {sc['passed']} passed, {sc['failed']} failed, {sc['not applicable']} not applicable, "
                     f"{sc['error']} error, of {sc['total']}")
    for doc, c in s["by_document"].items():
        lines.append(f"- {doc}: {c.get(CHECKED, 0)} checked, {c.get(NOT_TESTABLE, 0)} not testable, "
                     f"{c.get(NOT_ENCODED, 0)} not yet encoded, of {c['total']}")
    failing = failures(model)
    if failing:
        # what a tester reads first: each failing scenario, the clauses it pins, what the implementation did
        lines += ["", "## Failures against this implementation", "",
                  "| Rule | Clauses | Witness | Result | Failing step | Implementation's answer | Message |",
                  "|---|---|---|---|---|---|---|"]
        for r, run in failing:
            actual = run.get("actual") or {}
            answer = f"{actual.get('status', '')}: {actual.get('detail', '')}" if actual else "—"
            lines.append(f"| {r['id']} | {', '.join(c['id'] for c in r['clauses'])} | {run.get('witness') or '—'} | "
                         f"{run['status']} | {_md(run.get('failed_step') or '—')} | {_md(answer[:300])} | "
                         f"{_md((run.get('message') or '').splitlines()[0][:300] if run.get('message') else '—')} |")
    if model["disputes"]:
        lines += ["", "## Disputed readings", ""]
        for d in model["disputes"]:
            lines.append(f"### {d['question']}")
            lines.append("")
            lines.append(f"Evidence: {d['readings'][0]['evidence']}")
            lines.append("")
            for r in d["readings"]:
                res = f" — last result: {r['result']}" if r["result"] else ""
                lines.append(f"- `{r['rule']}`: {r['reading']}{res}")
            lines.append("")
    if model.get("source_disputes"):
        lines += ["", "## Open readings of the source text", "",
                  "Not applied: the catalogue keeps the text as printed, and these readings stay open "
                  "(spec/resolutions/). Rules citing the clause rest on the printed text.", ""]
        for d in model["source_disputes"]:
            lines.append(f"### {d['id']} — {d['clause'] or 'no one clause'} ({d['file']}"
                         + (f", source line {d['line']}" if d.get("line") else "") + ")")
            lines.append("")
            if d.get("text"):
                lines.append(f"Printed: {_md(str(d['text']))}")
                lines.append("")
            lines += [f"- {_md(str(r))}" for r in d["readings"]]
            if d["rules"]:
                lines += ["", "Rules citing the clause: " + ", ".join(f"`{r}`" for r in d["rules"])]
            lines.append("")
    vacuous = [r for r in model["rules"].values() if r.get("vacuity")]
    if vacuous:
        lines += ["", "## Rules this run did not exercise fully", "",
                  "*never run*: no scenario of the rule ran; *only not applicable*: every one was not applicable; "
                  "*never failed*: no scenario saw the rule's check return fail, so this run alone does not show "
                  "the check can fail (the test suite proves it on the rule's failing witnesses; an SMI rule's "
                  "scenarios drive the implementation's behaviour, which a conformant one never makes fail).", ""]
        lines += [f"- `{r['id']}`: {', '.join(r['vacuity'])}" for r in vacuous]
    lines += ["", "## Rules", "", "| Rule | Rule file | Actor | Clauses | Check | Scenario | Result |",
              "|---|---|---|---|---|---|---|"]
    for r in model["rules"].values():
        flags = (" (suspect)" if r["suspect"] else "") + (" (disputed)" if r["disputed"] else "")
        flags += "".join(f" ({v})" for v in r.get("vacuity", []))
        check = f"`{r['check']}`" if r["check"] else f"not testable: {r['reason']}"
        lines.append(f"| {r['id']}{flags} | {r['file']}:{r['line']} | {r['actor']} | "
                     f"{', '.join(c['id'] for c in r['clauses'])} | {_md(check)} | "
                     f"{_md(r['scenario'] or '—')} | {r['result'] or '—'} |")
    for doc in model["documents"]:
        lines += ["", f"## {doc['document']} {doc['version']} ({doc['source']})", "",
                  "| Clause | Kind | Status | Rules | Result |" + (" Text |" if with_text else ""),
                  "|---|---|---|---|---|" + ("---|" if with_text else "")]
        for c in model["clauses"]:
            if c["document"] != doc["document"]:
                continue
            status = c["status"] + (" through its rows" if c.get("rows") else "")
            status += (", suspect" if c["suspect"] else "") + (", disputed" if c["disputed"] else "")
            if c["reason"]:
                status += f" ({c['reason']})"
            row = f"| {_md(c['id'])} | {c['kind']} | {_md(status)} | {', '.join(c['rules']) or '—'} | {c['result'] or '—'} |"
            if with_text:
                row += f" {_md(c['text'])} |"
            lines.append(row)
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
