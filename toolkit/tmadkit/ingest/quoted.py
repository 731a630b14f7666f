"""An older version of a document, as another document quotes it (SEC Appendix AC in the BAD).

The Business Architecture Document's traceability tables quote Appendix AC clause by clause
in the numbering of the AC it was written against (rows: role, document, clause number,
clause text).  Those rows are that version of AC, in part: the catalogue holds every clause
the BAD quotes, verbatim, and nothing else (partial: the rest is unknown).  The same clause
quoted in several rows must read the same, or the ingest stops at the line that differs.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from .. import atomic
from ..catalogue import Catalogue, Entry, normalise, sha256_file
from ..errors import InputError

_CLAUSE = re.compile(r"^\d{1,2}\.\d{1,2}[A-Z]?$")
_TAG = re.compile(r"<[^>]+>")
# Some rows end with the SEC download link the table printed beside the clause: not clause text.
_TRAILING_LINK = re.compile(r"\s*https?://\S+\s*$")


def _text(cell: str) -> str:
    return normalise(_TRAILING_LINK.sub("", html.unescape(_TAG.sub(" ", cell))))


def build_catalogue(source: Path, version: str, document: str, quoted_as: str) -> Catalogue:
    source = Path(source)
    entries: dict[str, Entry] = {}
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        cells = line.split("\t")
        if len(cells) < 4 or not cells[1].startswith(quoted_as) or not _CLAUSE.match(cells[2].strip()):
            continue
        clause, text = cells[2].strip(), _text(cells[3])   # later cells are links to the SEC site
        cid = f"{document}:{clause}"
        if cid in entries:
            if entries[cid].text != text and not (text in entries[cid].text or entries[cid].text in text):
                raise InputError(f"{cid} is quoted differently here than at line {entries[cid].lines[0]}",
                                 file=str(source), line=number)
            continue
        entries[cid] = Entry(id=cid, kind="clause", text=text, lines=(number, number), number=clause, status="given")
    if not entries:
        raise InputError(f"no rows quoting {quoted_as!r}", file=str(source))
    ordered = sorted(entries.values(), key=lambda e: [int(p) if p.isdigit() else p for p in re.findall(r"\d+|\D+", e.number)])
    return Catalogue(document=document, version=version, source=f"spec/sources/{source.name}",
                     source_sha256=sha256_file(source), entries=ordered, partial=True)


def ingest_to_file(source: Path, out: Path, version: str, document: str = "AC",
                   quoted_as: str = "SEC Appendix AC", **_) -> Catalogue:
    cat = build_catalogue(source, version, document, quoted_as)
    atomic.write_text(out, cat.dump())
    return cat
