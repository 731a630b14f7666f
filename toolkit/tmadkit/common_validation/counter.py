"""The MVFCounter the DCC keeps (Table 5.7: strictly increasing per creator), per Requesting Party.

A small JSON file in the Authenticator's state directory; the next counter is the last plus one,
recorded before the MVF is written, so a crash can skip a counter but never reuse one.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..atomic import write_text
from ..errors import InputError

FILE = "mvf-counters.json"


def next_counter(state_dir: Path, requesting_party: str) -> int:
    path = state_dir / FILE
    try:
        counters = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the MVF counters: {exc}", file=str(path)) from None
    value = int(counters.get(requesting_party, 0)) + 1
    counters[requesting_party] = value
    write_text(path, json.dumps(counters, indent=1, sort_keys=True) + "\n")
    return value
