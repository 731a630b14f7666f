"""External test vectors, read in place from TMADKIT_VECTORS (default ../shared/vectors) and
never copied into the repository (their licences keep them out): a test that needs one skips,
saying which, when it is absent."""
from __future__ import annotations

from pathlib import Path

import pytest

from tmadkit import paths


def vector(*parts: str) -> Path:
    p = paths.vectors_dir().joinpath(*parts)
    if not p.exists():
        pytest.skip(f"external test vector {p} not present (set TMADKIT_VECTORS to the shared vectors folder)")
    return p
