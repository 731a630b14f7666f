"""Facts: the subject a check looks at, as a nested mapping addressed by dotted paths.

A migration file, a Commissioning Request or an SMI event is reduced to facts by an
adapter (XML extraction, a witness in a rule file, an implementation's output), so
that one generated check serves them all.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MISSING = object()


_PARTS: dict[str, tuple[str, ...]] = {}


def get(facts: Mapping[str, Any], path: str, default: Any = MISSING) -> Any:
    """Value at a dotted path ("signer.remote_party_role"), or `default` when absent."""
    parts = _PARTS.get(path)
    if parts is None:
        parts = _PARTS[path] = tuple(path.split("."))   # rules name a few hundred paths at most
    node: Any = facts
    for part in parts:
        # A plain dict first: checks run this ~80 times per installation of a large file.
        if type(node) is dict:
            node = node.get(part, MISSING)
            if node is MISSING:
                return default
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return default
    return node


def flatten(facts: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {dotted path: leaf}; lists are leaves."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{dotted path: value} -> nested mapping (inverse of flatten)."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
