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


_RULE_LISTS = (("rules",), ("state_machine", "transitions"), ("state_machine", "refusals"))


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == key), None)
    return None


def _owners(root: yaml.Node) -> dict[int, set[str]]:
    """{id(citation node): the ids of the rules that cite it}.  A citation written once under a
    YAML anchor and aliased elsewhere is one node with several owners."""
    owners: dict[int, set[str]] = {}
    for path in _RULE_LISTS:
        node = root
        for key in path:
            node = _child(node, key)
        for rule in node.value if isinstance(node, yaml.SequenceNode) else []:
            rid, clauses = _child(rule, "id"), _child(rule, "clauses")
            for citation in clauses.value if isinstance(clauses, yaml.SequenceNode) else []:
                if rid is not None:
                    owners.setdefault(id(citation), set()).add(rid.value)
    return owners


def _fingerprint_nodes(node: yaml.Node):
    """Yield (citation mapping node, its keys, fingerprint scalar node) for every citation in the file."""
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
                yield n, keys, keys["fingerprint"]
            stack.extend(v for _, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)


def review_file(path: Path, catalogue: cat.Catalogue, only_rules: set[str] | None = None,
                dry_run: bool = False) -> list[Stamp]:
    """Stamp the stale citations of `only_rules` (all rules: None).  Only a rule's own citations
    are stamped: where a citation is shared with a rule not being reviewed (a YAML anchor), the
    review is refused, since stamping it would clear that rule unread."""
    rf = load_file(path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    root = yaml.compose(text, Loader=_Loader)
    owners = _owners(root)
    stamps: list[Stamp] = []
    for node, keys, fp_node in _fingerprint_nodes(root):
        clause_id = keys["id"].value
        cited_by = owners.get(id(node), set())
        if only_rules is not None and not cited_by & only_rules:
            continue
        entry = catalogue.get(clause_id)
        if entry is None:
            raise InputError(f"cannot review: {clause_id} is not in the catalogue", file=rf.relpath,
                             line=fp_node.start_mark.line + 1, clause=clause_id)
        old = fp_node.value
        if old == entry.fingerprint:
            continue
        if cat.normalise(keys["quote"].value) not in entry.text:
            raise InputError("cannot review: the quote is not verbatim text of the clause; rewrite the rule",
                             file=rf.relpath, line=keys["quote"].start_mark.line + 1, clause=clause_id)
        others = sorted(cited_by - only_rules) if only_rules is not None else []
        if others:
            raise InputError(f"cannot review this citation for {', '.join(sorted(cited_by & only_rules))} alone: "
                             f"it is shared (a YAML anchor) with {', '.join(others)}, which would be cleared unread; "
                             f"review them together (" + " ".join(f"--rule {r}" for r in sorted(cited_by)) + ")",
                             file=rf.relpath, line=fp_node.start_mark.line + 1, clause=clause_id)
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
