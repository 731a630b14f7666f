"""A plain (non-editable) install carries everything the runtime needs.

The wheel is built from this checkout and installed with --target into a folder that
comes first on PYTHONPATH, so the installed copy shadows the editable one; then
`tmadkit conformance` runs from an unrelated working directory.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr   # hatchling comes with the [test] extra
    return target


def _run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TMADKIT_ROOT"}
    env["PYTHONPATH"] = str(installed)
    return subprocess.run([sys.executable, "-m", "tmadkit.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_installed_package_bundles_its_data(installed: Path):
    bundled = installed / "tmadkit" / "_bundled"
    for rel in ("rules/rule.schema.json", "spec/catalogue/TMAD/5.1.yaml", "generated/manifest.json",
                "features/tmad/table-5.5.feature", "spec/sources/provenance.yaml"):
        assert (bundled / rel).is_file(), rel
    assert (installed / "tmadkit" / "templates" / "report.html.j2").is_file()


def test_installed_conformance_runs_from_another_directory(installed: Path, tmp_path: Path):
    proc = _run(installed, tmp_path, "conformance", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    data = json.loads(proc.stdout)
    assert data["summary"]["scenarios"]["passed"] == data["summary"]["scenarios"]["total"] > 0
    assert (tmp_path / "tmadkit-report" / "report.html").is_file()
    where = subprocess.run([sys.executable, "-c", "import tmadkit.paths as p; print(p.root())"],
                           env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(installed)), where.stdout
