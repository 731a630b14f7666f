"""Test packs: the signed input files of a rule's (or a clause's) scenarios, with the answers owed.

For teams whose systems cannot be driven from Python or a command: every witness that
describes a file becomes a real file, signed under a test PKI shipped in the pack (public
certificates only), and `expected.json` says, per file, who authenticates it, when, and what
the contract requires (accepted, or rejected at a Table 5.9 step).  Witnesses judged from
facts rather than files are listed with the reason they are not in the pack.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .authentication.witness import copy_public_pki, describes_file, witness_pki
from .errors import InputError
from .iut import contract, files
from .rules import Rule, load_all


def select(rule_id: str | None, clause: str | None) -> list[Rule]:
    ruleset = load_all()
    if rule_id:
        by_id = ruleset.by_id()
        if rule_id not in by_id:
            raise InputError(f"no rule {rule_id!r} in rules/")
        return [by_id[rule_id]]
    # a table id takes its rows and sub-items too: TMAD:T5.9 -> TMAD:T5.9/5.9.2
    chosen = [r for r in ruleset if r.testable and any(
        c == clause or c.startswith(clause + "/") or c.startswith(clause + "(") for c in r.clause_ids)]
    if not chosen:
        raise InputError(f"no testable rule cites {clause!r}", clause=clause)
    return chosen


def build(rules: list[Rule], out: Path) -> dict:
    """Write the pack to `out` (replaced whole, never left half-written); return expected.json."""
    scenarios, left_out = [], []
    staging = Path(tempfile.mkdtemp(prefix=".tmadkit-pack-", dir=out.parent if out.parent.exists() else None))
    try:
        for rule in rules:
            for w in rule.witnesses:
                if not describes_file(w.facts):
                    left_out.append({"rule": rule.id, "witness": w.id,
                                     "reason": f"judged from facts, not a file ({rule.title})"})
                    continue
                request = files.request_for(w.facts)
                rel = Path(rule.id) / w.id / request.file_name
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).write_bytes(request.content)
                scenarios.append({
                    "rule": rule.id, "clauses": rule.clause_ids, "witness": w.id, "description": w.description,
                    "file": rel.as_posix(), "as": request.authenticator, "at": request.at.isoformat(),
                    "expected": files.expected_answer(request)})
        if not scenarios:
            raise InputError("none of the selected rules' witnesses describe a file; nothing to pack "
                             f"({', '.join(r.id for r in rules)})")
        copy_public_pki(witness_pki().dir, staging / "pki")
        expected = {"contract": contract.CONTRACT_VERSION, "tmadkit": __version__, "pki": "pki",
                    "answer": "accepted, or rejected with failure.step the Table 5.9 step (tmadkit/iut/CONTRACT.md)",
                    "scenarios": scenarios, "not_in_pack": left_out}
        (staging / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return expected
