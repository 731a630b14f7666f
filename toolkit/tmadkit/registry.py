"""The generated checks, loaded from generated/ by the manifest the generator wrote.

Generated modules are loaded by path (not as an installed package) so that the same
code serves a checkout, an editable install and a wheel, and so that a test can load a
mutated copy beside the real one.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from functools import lru_cache
from types import ModuleType
from typing import Callable

from . import paths
from .errors import TmadkitError


def manifest() -> dict:
    path = paths.generated_dir() / "manifest.json"
    if not path.is_file():
        raise TmadkitError(f"{path}: missing; run `tmadkit generate`")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_module(relpath: str, name: str | None = None) -> ModuleType:
    path = paths.root() / relpath
    name = name or "tmadkit_generated." + relpath.removeprefix("generated/").removesuffix(".py").replace("/", ".")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TmadkitError(f"{relpath}: cannot load generated module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=None)
def _checks(root: str) -> dict[str, Callable]:
    out: dict[str, Callable] = {}
    modules = sorted({r["module"] for r in manifest()["rules"].values() if "module" in r})
    for rel in modules:
        out.update(load_module(rel).CHECKS)
    return out


def checks() -> dict[str, Callable]:
    """{rule id: generated check function}."""
    return _checks(str(paths.root()))


def check(rule_id: str) -> Callable:
    try:
        return checks()[rule_id]
    except KeyError:
        raise TmadkitError(f"no generated check for rule {rule_id}; run `tmadkit generate`") from None
