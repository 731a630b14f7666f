"""The Common Validation benchmark runs as the README says (a smoke run on a tiny MCF: what it
measures is reported, never asserted; speed is not tested here)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys


def test_the_common_validation_benchmark_runs_and_reports_its_figures(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tmadkit.bench.common_validation", "--sizes", "100", "--repeat", "1",
                          "--keep", str(tmp_path), "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    (r,) = json.loads(out.stdout)
    assert r["installations"] == 100 and r["runs"] == 1
    assert r["baseline"]["valid"] is True
    assert r["tmadkit"]["accepted"] is True and r["tmadkit"]["installations"] == 100
    # 1 installation in 100 has an unregistered MPAN, so some FailedChecks are written.
    assert r["tmadkit"]["installations_failed"] == 1
    assert r["tmadkit"]["mvf"].startswith("MVF_")
    c = r["floor"]["authentication_c"]
    assert c["valid"] is True
    # the floor's C steps as validate runs them: the XSD validation and the verification side by side
    assert c["beside"] >= max(c["validate"], c["verify"])
    assert r["floor"]["total"] == round(r["floor"]["fixed"]["total"] + c["total"], 2)
    for key in ("ratio_time_vs_parse_validate", "ratio_peak_rss_vs_parse_validate", "ratio_cpu_vs_parse_validate"):
        assert r[key] > 0
    # the bound is what it says: start-up, then the rest of tmadkit's CPU time over every core
    fixed, ours, bound = r["floor"]["fixed"], r["tmadkit"], r["cpu_bound"]
    assert bound["cores"] >= 1
    assert bound["total"] == round(fixed["total"] + max(0.0, ours["cpu"] - fixed["cpu"]) / bound["cores"], 2)
    if shutil.which("xmlsec1"):
        assert r["xmlsec1"]["ok"] is True
    # Each run's MVF counter lives in a state folder of its own, which is removed after the run.
    assert not list((tmp_path / "100").glob("state-*"))
