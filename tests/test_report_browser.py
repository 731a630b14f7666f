"""The HTML report as an auditor sees it: headless Chromium opens it from disk, a screenshot is
kept, a clause link leads to the clause's page with its text, rule and result."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tmadkit.cli import main

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("headless Chromium not installed (Debian packages chromium and chromium-driver; .ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    b = webdriver.Chrome(service=Service(driver), options=options)
    yield b
    b.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["conformance", "--out", str(out), "-m", "TMAD_T5_5 or TMAD_T8_7_2"]) == 0
    return out / "report.html"


def test_auditor_follows_a_clause_link(browser, report):
    from selenium.webdriver.common.by import By

    browser.get(report.as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-summary.png"))
    assert "tmadkit traceability report" in browser.title
    summary = browser.find_element(By.ID, "overview").text
    assert "checked by a rule" in summary and "scenarios passed" in summary

    link = browser.find_element(By.LINK_TEXT, "TMAD:T8.7.2/Commission Device")
    link.click()
    page = next(s for s in browser.find_elements(By.CSS_SELECTOR, "section.clause") if s.is_displayed())
    text = page.text
    assert "Commission Device | 8.1 | 8.1.1" in text                      # the clause's verbatim text
    assert "Rule TMAD-T8.7.2-commission-device" in text                   # its rule
    assert "last result: passed" in text                                  # its result
    assert not browser.find_element(By.ID, "overview").is_displayed()     # the page, not the matrix
    assert browser.save_screenshot(str(ARTIFACTS / "report-clause.png"))


def test_filters_narrow_the_matrix(browser, report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(report.as_uri())
    rows = lambda: [r for r in browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr") if r.is_displayed()]  # noqa: E731
    everything = len(rows())
    Select(browser.find_element(By.ID, "f-status")).select_by_visible_text("checked")
    checked = len(rows())
    assert 0 < checked < everything
    Select(browser.find_element(By.ID, "f-doc")).select_by_visible_text("AC")
    assert all(r.get_attribute("data-doc") == "AC" for r in rows())


def test_version_and_groupid_filters(browser, report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(report.as_uri())
    rows = lambda: [r for r in browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr") if r.is_displayed()]  # noqa: E731
    everything = len(rows())
    Select(browser.find_element(By.ID, "f-version")).select_by_visible_text("TMAD 6.1F")
    in_61f = rows()
    assert 0 < len(in_61f) < everything
    assert all("TMAD 6.1F" in r.get_attribute("data-versions").split("|") for r in in_61f)
    Select(browser.find_element(By.ID, "f-version")).select_by_index(0)
    Select(browser.find_element(By.ID, "f-group")).select_by_visible_text("DA")
    for r in rows():
        groups = r.get_attribute("data-groups")
        assert groups == "" or "DA" in groups.split("|")
