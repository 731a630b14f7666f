"""Machine-readable exports of one run, keyed by the same clause ids as the report.

- a CSV traceability matrix (one row per catalogued clause, gaps included);
- OSCAL assessment-results (NIST OSCAL 1.1): one finding per clause, targeting the clause as an
  objective, satisfied only when the clause is checked and every scenario run for it passed;
  one observation per scenario.  Absence of evidence is never "satisfied";
- the JUnit and Cucumber JSON pytest writes, completed for test-management tools: each JUnit
  testcase's classname is its feature file; Cucumber tags carry their "@".

Everything is deterministic: UUIDs are name-based (uuid5) from the run's content, and no
wall-clock time is written (the bundle manifest records the run time once).
"""
from __future__ import annotations

import csv
import io
import json
import re
import uuid
from typing import Any

from . import __version__

OSCAL_VERSION = "1.1.2"
_NS = uuid.UUID("6f1c5e0a-3c2b-5d7e-9a1f-7d4b2c8e9f10")   # tmadkit's namespace for uuid5


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "\x1f".join(parts)))


def csv_matrix(model: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["document", "version", "clause", "kind", "status", "reason", "result", "rules", "actors",
                "suspect", "disputed", "fingerprint", "source_lines"])
    for c in model["clauses"]:
        w.writerow([c["document"], c["version"], c["id"], c["kind"], c["status"], c["reason"] or "",
                    c["result"] or "", " ".join(c["rules"]), " ".join(c["actors"]),
                    "yes" if c["suspect"] else "", "yes" if c["disputed"] else "", c["fingerprint"],
                    f"{c['lines'][0]}-{c['lines'][1]}"])
    return out.getvalue()


def objective_id(clause_id: str) -> str:
    """A clause id as an OSCAL token (NCName-like): TMAD:T5.10/5.10.4 -> tmad-t5.10_5.10.4."""
    token = re.sub(r"[^A-Za-z0-9_.-]+", "_", clause_id.replace(":", "-")).strip("_")
    return token.lower() if token[:1].isalpha() else f"c-{token.lower()}"


def _finding_state(clause: dict) -> tuple[str, str]:
    if clause["status"] != "checked":
        return "not-satisfied", f"no evidence: the clause is {clause['status']}" + (
            f" ({clause['reason']})" if clause["reason"] else "")
    result = clause["result"] or "not run"
    if result == "passed":
        return "satisfied", "every scenario run for its rules passed"
    if result == "suspect":
        return "not-satisfied", ("last result: suspect: a rule checking it cites clause text that changed since the "
                                 "rule was reviewed, so its scenarios prove nothing about the current text")
    return "not-satisfied", f"last result: {result}"


def oscal_assessment_results(model: dict) -> dict[str, Any]:
    run = model.get("run") or {}
    implementation = run.get("implementation", "not run")
    run_key = f"{implementation}|{model.get('generator')}"
    observations, obs_by_rule = [], {}
    for rule in model["rules"].values():
        for s in rule.get("runs") or []:
            oid = _uuid(run_key, "observation", rule["id"], s.get("witness") or s.get("test", ""), s.get("version") or "")
            obs_by_rule.setdefault(rule["id"], []).append(oid)
            expected = (s.get("expected") or {}).get("status")
            actual = (s.get("actual") or {}).get("status")
            observations.append({
                "uuid": oid,
                "title": f"{rule['id']} / {s.get('witness')}" + (f" [{s['version']}]" if s.get("version") else ""),
                "description": f"Scenario '{s.get('scenario', '')}' against {implementation}: expected {expected}, "
                               f"implementation said {actual}; scenario {s['status']}.",
                "props": [{"name": "rule", "ns": "https://tmadkit.invalid/ns", "value": rule["id"]},
                          {"name": "scenario-status", "ns": "https://tmadkit.invalid/ns", "value": s["status"].replace(" ", "-")},
                          *({"name": "clause", "ns": "https://tmadkit.invalid/ns", "value": c["id"]} for c in rule["clauses"])],
                "methods": ["TEST"],
                "collected": "1970-01-01T00:00:00Z",
            })
    findings = []
    for c in model["clauses"]:
        if not c["counted"]:
            continue
        state, reason = _finding_state(c)
        related = [{"observation-uuid": o} for r in c["rules"] for o in obs_by_rule.get(r, [])]
        finding = {
            "uuid": _uuid(run_key, "finding", c["document"], c["version"], c["id"]),
            "title": c["id"],
            "description": c["text"][:2000] or c["id"],
            "props": [{"name": "clause-fingerprint", "ns": "https://tmadkit.invalid/ns", "value": c["fingerprint"]},
                      {"name": "clause-status", "ns": "https://tmadkit.invalid/ns", "value": c["status"].replace(" ", "-")},
                      *([{"name": "suspect", "ns": "https://tmadkit.invalid/ns", "value": "true"}] if c["suspect"] else [])],
            "target": {"type": "objective-id", "target-id": objective_id(c["id"]),
                       "status": {"state": state, "reason": "pass" if state == "satisfied" else "fail",
                                  "remarks": reason}},
        }
        if related:
            finding["related-observations"] = related
        findings.append(finding)
    summary = model["summary"]
    return {"assessment-results": {
        "uuid": _uuid(run_key, "assessment-results"),
        "metadata": {
            "title": f"tmadkit conformance: {implementation}",
            "last-modified": "1970-01-01T00:00:00Z",
            "version": __version__,
            "oscal-version": OSCAL_VERSION,
            "remarks": "Times are not recorded here; the evidence bundle's manifest records when the run took place.",
        },
        "import-ap": {"href": "#tmadkit-assessment-plan"},
        "results": [{
            "uuid": _uuid(run_key, "result"),
            "title": "TMAD / SEC Appendix AC conformance run",
            "description": f"{summary['clauses']} clauses; {summary['checked']} checked, {summary['not_testable']} not "
                           f"testable, {summary['not_encoded']} not yet encoded.",
            "start": "1970-01-01T00:00:00Z",
            "reviewed-controls": {"control-selections": [{"include-all": {}}]},
            **({"observations": observations} if observations else {}),
            "findings": findings,
        }],
    }}


def completed_run_files(junit: str, cucumber: str, results: dict) -> tuple[str, str]:
    """(junit.xml, cucumber.json) as pytest wrote them, completed.  pytest runs the features from
    one module outside any package, so its testcases have an empty classname; the feature file
    each scenario comes from (Cucumber JSON's uri) is what a reader groups them by."""
    features = json.loads(cucumber)
    feature_of: dict[str, str] = {}
    for feature in features:
        for tag in feature.get("tags", []):
            tag["name"] = tag["name"] if tag["name"].startswith("@") else "@" + tag["name"]
        for element in feature.get("elements", []):
            # pytest-bdd's element id carries the example's [params]; the testcase name is
            # looked up without them
            feature_of[element.get("id", "").partition("[")[0]] = feature.get("uri", "")
            for tag in element.get("tags", []):
                tag["name"] = tag["name"] if tag["name"].startswith("@") else "@" + tag["name"]
    return _junit_xunit2(junit, feature_of, results), json.dumps(features, indent=4) + "\n"


def _junit_xunit2(junit: str, feature_of: dict[str, str], results: dict) -> str:
    """The run's JUnit, already xunit2 (the plugin made it so: bdd/junit.py), completed: each
    testcase is classed by its feature file, and the run's own facts are the suite's properties
    (the one place xunit2 allows them)."""
    from lxml import etree

    root = etree.fromstring(junit.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    run = {k: v for k, v in (results.get("run") or {}).items() if isinstance(v, str)}
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            uri = feature_of.get(case.get("name", "").partition("[")[0])
            if uri:
                case.set("classname", "features." + uri.removesuffix(".feature").replace("/", "."))
        if run:
            props = etree.Element("properties")
            for k in sorted(run):
                etree.SubElement(props, "property", name=k, value=run[k])
            suite.insert(0, props)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8").decode("utf-8")
