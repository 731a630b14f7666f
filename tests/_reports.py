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


# The JUnit XML shape of pytest's xunit2 family, as Jenkins' JUnit schema (the xunit plugin's
# junit-10.xsd) defines it: which children and attributes each element may have.  Written out
# here, not copied: a testcase has no <properties>, and errors are <error>, not <failure>.
_CHILDREN = {"testsuites": {"testsuite"},
             "testsuite": {"testsuite", "properties", "testcase", "system-out", "system-err"},
             "properties": {"property"}, "property": set(),
             "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
             "skipped": set(), "error": set(), "failure": set(), "system-out": set(), "system-err": set()}
_ATTRIBUTES = {"testsuites": ({"name", "time", "tests", "failures", "errors"}, set()),
               "testsuite": ({"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp",
                              "hostname", "id", "package", "file", "log", "url"},
                             {"name", "tests", "failures", "errors"}),
               "properties": (set(), set()), "property": ({"name", "value"}, {"name", "value"}),
               "testcase": ({"name", "time", "classname", "group"}, {"name"}),
               **{k: ({"type", "message"}, set()) for k in ("skipped", "error", "failure")},
               "system-out": (set(), set()), "system-err": (set(), set())}


def assert_valid_xunit2(out: Path) -> None:
    root = etree.parse(str(out / "junit.xml")).getroot()
    assert root.tag == "testsuites"
    for el in root.iter():
        allowed, required = _ATTRIBUTES[el.tag]
        assert set(el.attrib) <= allowed and required <= set(el.attrib), (el.tag, el.get("name"), dict(el.attrib))
        bad = [child.tag for child in el if child.tag not in _CHILDREN[el.tag]]
        assert not bad, f"<{el.tag} name={el.get('name')!r}> may not hold {bad}"
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        for attr, kind in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            assert int(suite.get(attr, "0")) == sum(c.find(kind) is not None for c in cases), attr


def junit_ids(case) -> dict[str, list[str]]:
    """A testcase's ids, from the `name: value` lines of its <system-out>."""
    ids: dict[str, list[str]] = {}
    for line in (case.findtext("system-out") or "").splitlines():
        name, sep, value = line.partition(": ")
        if sep and name in ("rule", "clause", "actor", "witness", "suspect"):
            ids.setdefault(name, []).append(value)
    return ids
