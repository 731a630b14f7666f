"""Where the project's data lives, in a checkout and in an installed wheel.

In a checkout (or an editable install) the data is the top-level spec/, rules/,
generated/ and features/ next to toolkit/.  A plain `pip install .` bundles the same
folders as tmadkit/_bundled/ (see pyproject.toml), so an installed tmadkit works from
any directory.  TMADKIT_ROOT overrides both, for tests that work on a copy.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _default_root() -> Path:
    checkout = _PACKAGE.parent.parent
    if (checkout / "rules").is_dir() and (checkout / "toolkit" / "tmadkit").is_dir():
        return checkout
    bundled = _PACKAGE / "_bundled"
    if bundled.is_dir():
        return bundled
    raise RuntimeError("tmadkit: cannot find its data (rules/, spec/); reinstall the package")


def root() -> Path:
    env = os.environ.get("TMADKIT_ROOT")
    return Path(env).resolve() if env else _default_root()


def spec_dir() -> Path:
    return root() / "spec"


def rules_dir() -> Path:
    return root() / "rules"


def generated_dir() -> Path:
    return root() / "generated"


def features_dir() -> Path:
    return root() / "features"


def templates_dir() -> Path:
    return _PACKAGE / "templates"


def is_checkout() -> bool:
    return (root() / "toolkit" / "tmadkit").is_dir()


def vectors_dir() -> Path:
    """External test material (never copied into the repo)."""
    env = os.environ.get("TMADKIT_VECTORS")
    if env:
        return Path(env).resolve()
    return (root() / ".." / "shared" / "vectors").resolve()
