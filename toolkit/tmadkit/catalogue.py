"""The clause catalogue: every clause, definition, table and table row of a source text.

The catalogue is the denominator of every coverage figure and the anchor of every
fingerprint, so its model is deliberately small: an entry is an id, a kind, the
verbatim text (whitespace normalised) and where it sits in the source.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from . import paths

# Kinds of catalogue entry.  "heading" entries structure the document and are not
# counted in coverage; everything else is a clause an auditor may ask about.
KINDS = ("heading", "clause", "subclause", "definition", "table", "table-row")
COUNTED_KINDS = ("clause", "subclause", "definition", "table-row")

_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Whitespace-normalised, NFC text: the form that is quoted and fingerprinted.

    Only layout is normalised (runs of whitespace, Unicode composition); wording,
    punctuation and case are kept verbatim so that any change of meaning changes
    the fingerprint.
    """
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fingerprint(text: str) -> str:
    """SHA-256 (hex) of the normalised text."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


@dataclass
class Entry:
    id: str                      # stable clause id, e.g. "TMAD:5.10", "TMAD:T5.5/Migration Common File"
    kind: str                    # one of KINDS
    text: str                    # verbatim text after tracked changes, normalised
    lines: tuple[int, int]       # first and last line (1-based) in the source file
    number: str | None = None    # clause/step number as printed ("5.10", "5.10.4", "(a)")
    title: str | None = None     # heading or table caption, definition term
    parent: str | None = None    # id of the enclosing entry
    cells: dict[str, str] | None = None  # table rows: column header -> cell text
    columns: list[str] | None = None     # tables: column headers
    aliases: list[str] = field(default_factory=list)  # other citations of the same clause
    status: str | None = None    # partial versions: "given" (verbatim) or "described" (prose of the change)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.id}: unknown entry kind {self.kind!r}")
        self.text = normalise(self.text)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text)

    def to_dict(self) -> dict:
        d: dict = {"id": self.id, "kind": self.kind}
        for key in ("number", "title", "parent"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        d["lines"] = list(self.lines)
        if self.columns is not None:
            d["columns"] = list(self.columns)
        if self.cells is not None:
            d["cells"] = dict(self.cells)
        if self.aliases:
            d["aliases"] = list(self.aliases)
        if self.status is not None:
            d["status"] = self.status
        d["text"] = self.text
        d["fingerprint"] = self.fingerprint
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Entry":
        return cls(
            id=d["id"], kind=d["kind"], text=d["text"], lines=tuple(d["lines"]),
            number=d.get("number"), title=d.get("title"), parent=d.get("parent"),
            cells=d.get("cells"), columns=d.get("columns"), aliases=d.get("aliases", []),
            status=d.get("status"),
        )


@dataclass
class Catalogue:
    document: str                # "TMAD", "AC"
    version: str                 # "5.1", "SMETS1-2018-03-23"
    source: str                  # repo-relative path of the source text
    source_sha256: str
    entries: list[Entry]
    partial: bool = False        # only some clauses are known in this version; the rest are unknown

    def __post_init__(self) -> None:
        self._by_id: dict[str, Entry] = {}
        for e in self.entries:
            if e.id in self._by_id:
                raise ValueError(f"{self.document} {self.version}: duplicate clause id {e.id!r} "
                                 f"(lines {self._by_id[e.id].lines} and {e.lines})")
            self._by_id[e.id] = e
        self._aliases = {a: e.id for e in self.entries for a in e.aliases}

    def get(self, clause_id: str) -> Entry | None:
        if clause_id in self._by_id:
            return self._by_id[clause_id]
        target = self._aliases.get(clause_id)
        return self._by_id.get(target) if target else None

    def __contains__(self, clause_id: str) -> bool:
        return self.get(clause_id) is not None

    def counted(self) -> list[Entry]:
        return [e for e in self.entries if e.kind in COUNTED_KINDS]

    def to_dict(self) -> dict:
        return {
            "document": self.document,
            "version": self.version,
            "source": self.source,
            "source_sha256": self.source_sha256,
            **({"partial": True} if self.partial else {}),
            "entry_count": len(self.entries),
            "entries": [e.to_dict() for e in self.entries],
        }

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=120)

    @classmethod
    def from_dict(cls, d: dict) -> "Catalogue":
        return cls(document=d["document"], version=str(d["version"]), source=d["source"],
                   source_sha256=d["source_sha256"], entries=[Entry.from_dict(x) for x in d["entries"]],
                   partial=bool(d.get("partial", False)))


def catalogue_path(document: str, version: str, root: Path | None = None) -> Path:
    return (root or paths.spec_dir()) / "catalogue" / document / f"{version}.yaml"


def load(document: str, version: str, root: Path | None = None) -> Catalogue:
    path = catalogue_path(document, version, root)
    with open(path, encoding="utf-8") as fh:
        return Catalogue.from_dict(yaml.safe_load(fh))


def load_all(root: Path | None = None) -> dict[str, Catalogue]:
    """Every catalogue under spec/catalogue, keyed "DOC@VERSION"."""
    base = (root or paths.spec_dir()) / "catalogue"
    out: dict[str, Catalogue] = {}
    for path in sorted(base.glob("*/*.yaml")):
        with open(path, encoding="utf-8") as fh:
            cat = Catalogue.from_dict(yaml.safe_load(fh))
        out[f"{cat.document}@{cat.version}"] = cat
    return out


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def entry_ids(entries: Iterable[Entry]) -> list[str]:
    return [e.id for e in entries]
