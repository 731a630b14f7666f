"""Shared fixtures: a throw-away copy of the project data for tests that edit it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of spec/, rules/, generated/ and features/; tmadkit works on it (TMADKIT_ROOT)."""
    root = tmp_path / "project"
    for d in ("spec", "rules", "generated", "features"):
        shutil.copytree(REPO / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("TMADKIT_ROOT", str(root))
    from tmadkit import registry
    registry._checks.cache_clear()
    yield root
    registry._checks.cache_clear()
