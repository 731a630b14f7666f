"""Gherkin table cells back to typed facts (the inverse of codegen.cell)."""
from __future__ import annotations

import json
from typing import Any

from ..codegen import ABSENT
from ..runtime.facts import unflatten


def parse_cell(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: cell {text!r} is not JSON ({exc.msg}); strings are written \"quoted\"") from None


def facts_from_table(rows: list[list[str]]) -> dict[str, Any]:
    """A two-column fact/value data table (header row first) -> nested facts."""
    header, *body = rows
    if [h.strip() for h in header] != ["fact", "value"]:
        raise ValueError(f"facts table must have columns | fact | value |, got {header!r}")
    flat = {}
    for fact, value in body:
        if value == ABSENT:
            continue
        flat[fact] = parse_cell(value, f"fact {fact}")
    return unflatten(flat)
