"""Reading a conformance run's JUnit and Cucumber JSON the way a CI server or test-management
tool does, so tests can check that the two say the same thing about every scenario."""
from __future__ import annotations

import json
from pathlib import Path

from lxml import etree


def junit_verdicts(out: Path) -> dict[str, str]:
    """{testcase name: failure | error | skipped | passed}, by the testcase's child element."""
    verdicts = {}
    for case in etree.parse(str(out / "junit.xml")).iter("testcase"):
        kinds = [k for k in ("error", "failure", "skipped") if case.find(k) is not None]
        assert len(kinds) <= 1, (case.get("name"), kinds)
        verdicts[case.get("name")] = kinds[0] if kinds else "passed"
    return verdicts


def cucumber_verdicts(out: Path) -> dict[str, tuple[str, str]]:
    """{scenario id: (failed | skipped | passed, the first error message)}, as a Cucumber
    reader folds the step results: any failed step fails the scenario."""
    verdicts = {}
    for feature in json.loads((out / "cucumber.json").read_text()):
        for el in feature["elements"]:
            results = [s["result"] for s in el["steps"]]
            status = next((s for s in ("failed", "skipped") if any(r["status"] == s for r in results)), "passed")
            message = next((r["error_message"] for r in results if r.get("error_message")), "")
            verdicts[el["id"]] = (status, message)
    return verdicts


# A JUnit verdict and the Cucumber status that says the same (Cucumber has no "error").
SAME = {"failure": "failed", "error": "failed", "skipped": "skipped", "passed": "passed"}


def assert_junit_and_cucumber_agree(out: Path) -> dict[str, str]:
    junit, cucumber = junit_verdicts(out), cucumber_verdicts(out)
    assert junit.keys() == cucumber.keys()
    for name, verdict in junit.items():
        assert cucumber[name][0] == SAME[verdict], (name, verdict, cucumber[name])
    return junit
