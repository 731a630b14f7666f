"""Mark suspect citations reviewed: stamp the catalogue's current fingerprint into the rule file.

Only the fingerprint scalars change, edited in place in the YAML text, so comments,
anchors and layout survive and the diff shows exactly what was reviewed.  A citation
whose quote is no longer verbatim clause text cannot be reviewed this way: the rule
must be rewritten first.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from . import atomic
from . import catalogue as cat
from .errors import InputError
from .rules import _Loader, load_file


@dataclass(frozen=True)
class Stamp:
    file: str
    line: int
    clause: str
    old: str
    new: str


def _fingerprint_nodes(node: yaml.Node):
    """Yield (citation mapping node, fingerprint scalar node) for every citation in the file."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue  # anchors: one node, many aliases
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            keys = {k.value: v for k, v in n.value}
            if "fingerprint" in keys and "id" in keys and "quote" in keys:
                yield keys, keys["fingerprint"]
            stack.extend(v for _, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)


def review_file(path: Path, catalogue: cat.Catalogue, only_rules: set[str] | None = None,
                dry_run: bool = False) -> list[Stamp]:
    rf = load_file(path)
    wanted_clauses = None
    if only_rules is not None:
        wanted_clauses = {c.id for r in rf.rules if r.id in only_rules for c in r.clauses}
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    stamps: list[Stamp] = []
    for keys, fp_node in _fingerprint_nodes(yaml.compose(text, Loader=_Loader)):
        clause_id = keys["id"].value
        if wanted_clauses is not None and clause_id not in wanted_clauses:
            continue
        entry = catalogue.get(clause_id)
        if entry is None:
            raise InputError(f"cannot review: {clause_id} is not in the catalogue", file=rf.relpath,
                             line=fp_node.start_mark.line + 1, clause=clause_id)
        if cat.normalise(keys["quote"].value) not in entry.text:
            raise InputError("cannot review: the quote is not verbatim text of the clause; rewrite the rule",
                             file=rf.relpath, line=keys["quote"].start_mark.line + 1, clause=clause_id)
        old = fp_node.value
        if old == entry.fingerprint:
            continue
        s, e = fp_node.start_mark, fp_node.end_mark
        if s.line != e.line:
            raise InputError("fingerprint must be on one line", file=rf.relpath, line=s.line + 1)
        line = lines[s.line]
        quoted = line[s.column:e.column]
        replacement = quoted.replace(old, entry.fingerprint)
        lines[s.line] = line[:s.column] + replacement + line[e.column:]
        stamps.append(Stamp(rf.relpath, s.line + 1, clause_id, old, entry.fingerprint))
    if stamps and not dry_run:
        atomic.write_text(path, "\n".join(lines))
        load_file(path)  # the edit must leave a valid rule file
    return stamps
