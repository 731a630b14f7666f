"""Reviewed corrections to the printed source, applied before revision marks are read.

Some changes in the TMAD text carry no revision marks, or the conversion garbled a row.
The ingester never guesses: each correction is written down in a resolutions file
(spec/resolutions/TMAD-<version>.yaml) with the exact printed text, the text with the marks
it should have had, the reason and the evidence, and is applied here.  A correction whose
``find`` text is not found exactly once (the source changed, or the file is wrong) stops
the ingest with an InputError naming the line, rather than silently doing nothing.

Items whose evidence does not settle the reading are kept as printed and listed under
``disputed:`` in the same file; they are loaded here so reports can show them.

File layout (YAML)::

    resolutions:
      - id: utrn-period-duration            # stable, unique
        kind: content | layout              # a tracked change without marks, or a garble
        where: {clause: "TMAD:2/UTRN Period", line: 117}
        find: "48<u>336</u> hours"          # exact printed text, found exactly once
        replace: "~~48~~<u>336</u> hours"   # same number of line breaks as find
        reason: ...
        evidence: [{quote: ..., location: ...}]
      - id: clause-4.23-new
        kind: inserted-line                 # a whole printed line that is new in this version
        where: {clause: "TMAD:4.23", line: 459}
        starts_with: "4.23 With the exception"   # the line must start so (guards the line number)
        reason: ...
        evidence: [...]
    disputed:
      - id: ...
        where: {...}
        text: ...                           # as printed (and as catalogued)
        readings: [...]
        evidence: [...]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import yamlload
from ..errors import InputError

KINDS = ("content", "layout", "inserted-line")


@dataclass(frozen=True)
class Resolution:
    id: str
    kind: str
    find: str
    replace: str
    line: int | None
    clause: str | None
    reason: str


@dataclass
class ResolutionSet:
    path: Path | None
    resolutions: list[Resolution] = field(default_factory=list)
    disputed: list[dict] = field(default_factory=list)


def _fail(path: Path, message: str, item: dict | None = None) -> InputError:
    return InputError(message, file=str(path), where=f"resolution {item.get('id')!r}" if item else None)


def load(path: Path | None) -> ResolutionSet:
    if path is None:
        return ResolutionSet(path=None)
    path = Path(path)
    data = yamlload.read(path, "resolutions") or {}
    if not isinstance(data, dict):
        raise InputError("expected a mapping with 'resolutions' and 'disputed'", file=str(path))
    out = ResolutionSet(path=path)
    seen: set[str] = set()
    for item in data.get("resolutions") or []:
        if item.get("kind") not in KINDS:
            raise _fail(path, f"kind must be one of {KINDS}", item)
        needed = ("starts_with", "where") if item["kind"] == "inserted-line" else ("find", "replace")
        for key in ("id", "reason", "evidence", *needed):
            if key not in item:
                raise _fail(path, f"missing '{key}'", item)
        if item["id"] in seen:
            raise _fail(path, "duplicate id", item)
        seen.add(item["id"])
        if item["kind"] == "inserted-line":
            where = item["where"]
            if "line" not in where:
                raise _fail(path, "an inserted-line resolution needs where.line", item)
            out.resolutions.append(Resolution(id=item["id"], kind=item["kind"], find=item["starts_with"],
                                              replace="", line=where["line"], clause=where.get("clause"),
                                              reason=item["reason"]))
            continue
        if item["find"].count("\n") != item["replace"].count("\n"):
            # line numbers are citations: a correction may not add or remove lines
            raise _fail(path, "'replace' must have as many line breaks as 'find'", item)
        where = item.get("where") or {}
        out.resolutions.append(Resolution(id=item["id"], kind=item["kind"], find=item["find"],
                                          replace=item["replace"], line=where.get("line"),
                                          clause=where.get("clause"), reason=item["reason"]))
    for item in data.get("disputed") or []:
        if "id" not in item or "readings" not in item:
            raise _fail(path, "a disputed item needs 'id' and 'readings'", item)
        if item["id"] in seen:
            raise _fail(path, "duplicate id", item)
        seen.add(item["id"])
        out.disputed.append(item)
    return out


def apply(text: str, rset: ResolutionSet, source_name: str) -> str:
    """The source text with every resolution applied (each must match exactly once)."""
    for res in rset.resolutions:
        if res.kind == "inserted-line":
            text = _insert_line(text, res, rset, source_name)
            continue
        count = text.count(res.find)
        if count != 1:
            found = "not found" if count == 0 else f"found {count} times"
            raise InputError(f"resolution {res.id!r} ({rset.path}): find text {found}; "
                             f"expected exactly once: {res.find[:80]!r}",
                             file=source_name, line=res.line, clause=res.clause)
        at = text.index(res.find)
        line = text.count("\n", 0, at) + 1
        if res.line is not None and line != res.line:
            raise InputError(f"resolution {res.id!r} ({rset.path}): find text is at line {line}, "
                             f"not at the reviewed line {res.line}",
                             file=source_name, line=line, clause=res.clause)
        text = text[:at] + res.replace + text[at + len(res.find):]
    return text


def _insert_line(text: str, res: Resolution, rset: ResolutionSet, source_name: str) -> str:
    """Mark the whole printed line as inserted: it exists only in the after view."""
    lines = text.split("\n")
    if not (1 <= res.line <= len(lines)) or not lines[res.line - 1].lstrip("- ").startswith(res.find):
        raise InputError(f"resolution {res.id!r} ({rset.path}): line {res.line} does not start with "
                         f"{res.find!r}", file=source_name, line=res.line, clause=res.clause)
    # Insertion marks inside a wholly inserted line say nothing more; nested marks are not
    # part of the markup, so drop them (deletions inside stay deleted in both views).
    inner = lines[res.line - 1].replace("<u>", "").replace("</u>", "")
    lines[res.line - 1] = f"<u>{inner}</u>"
    return "\n".join(lines)
