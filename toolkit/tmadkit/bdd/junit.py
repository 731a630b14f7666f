"""The JUnit pytest writes for the scenarios, made what the xunit2 family allows: the one way it
is done, whether the features run under plain pytest or `tmadkit conformance`.

The plugin gives each scenario its ids (rule, clause, actor, suspect, witness) as pytest user
properties, which pytest writes as testcase <properties>; xunit2 (Jenkins' JUnit schema) allows
none there, so they become `name: value` lines of the testcase's <system-out>.  pytest calls
anything raised while a scenario runs a <failure>; the plugin marks one whose implementation
crashed, timed out, refused or could not be driven with the property STATUS, and it becomes an
<error>.  User properties are what pytest-xdist carries from its workers, so the same marks
reach the JUnit its controller writes.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

STATUS = "tmadkit-status"     # a user property: the scenario's status, where JUnit cannot tell it
SCENARIO = "tmadkit_scenario"  # a report attribute: the report is a scenario's


def xunit2(root) -> None:
    """Rewrite, in place, an lxml JUnit tree as pytest's xunit2 family wrote it."""
    from lxml import etree

    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            ids, status = [], None
            for props in case.findall("properties"):
                for p in props.iter("property"):
                    if p.get("name") == STATUS:
                        status = p.get("value")
                    else:
                        ids.append((p.get("name"), p.get("value")))
                case.remove(props)
            if ids:
                out = case.find("system-out")
                if out is None:
                    out = etree.SubElement(case, "system-out")
                out.text = "".join(f"{k}: {v}\n" for k, v in ids) + (out.text or "")
            failure = case.find("failure")
            if status == "error" and failure is not None:
                failure.tag = "error"
        for attr, kind in (("failures", "failure"), ("errors", "error")):
            suite.set(attr, str(sum(c.find(kind) is not None for c in suite.iter("testcase"))))


def rewrite(path: Path) -> None:
    from lxml import etree

    from ..atomic import write_text

    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    xunit2(root)
    write_text(path, etree.tostring(root, xml_declaration=True, encoding="utf-8").decode("utf-8"))


class Rewriter:
    """Registered where pytest writes the JUnit (not on an xdist worker): once pytest has written
    it, rewrites it (xunit2), if the session ran a scenario.  A session that ran none is left as
    pytest wrote it: the plugin is loaded into every pytest run where tmadkit is installed."""

    def __init__(self, config: pytest.Config):
        xmlpath = getattr(config.option, "xmlpath", None)
        family = config.getini("junit_family") if xmlpath else None
        # resolved now, as pytest resolves it, in case the session changes directory
        self.path = (Path(os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath))))
                     if family == "xunit2" else None)
        self.scenarios = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.scenarios = self.scenarios or getattr(report, SCENARIO, False)

    @pytest.hookimpl(trylast=True)     # after pytest's junitxml has written the file
    def pytest_sessionfinish(self) -> None:
        if self.path is not None and self.scenarios and self.path.is_file():
            rewrite(self.path)
