"""Ingest SEC Appendix AC (Inventory Enrolment and Withdrawal Procedures) into a catalogue.

The source is a Word->markdown conversion (spec/sources/SEC-AC-SMETS1-2018-03-23.md).  The
conversion is inconsistent about layout, so the parser trusts *numbering*, not markup:
heading levels vary (`##`, `###`, `####`, a bare `**bold**` line), clauses may or may not
carry a `- ` bullet, and sub-item indentation does not follow nesting.

Identifier scheme (ids are citation keys and must stay stable across re-ingests):

    AC:4                    chapter heading "4 Commissioning"             kind heading
    AC:4/h/<title>          unnumbered sub-heading inside chapter 4       kind heading
                            (a repeated title in one chapter gets "#2", "#3", ...)
    AC:4.12                 clause                                        kind clause
    AC:3.2(a)               lettered sub-item of a clause                 kind subclause
    AC:5.9(b)(i)            roman sub-item of a lettered sub-item         kind subclause
    AC:13/<Term>            defined term in the Definitions chapter       kind definition
                            (alias: its positional id, e.g. AC:13.1(a))
    AC:T3.2                 table, keyed by the clause that introduces it kind table
                            (the AC tables are unnumbered; a second table in the same
                            clause is AC:T3.2#2; a table outside any clause is keyed by
                            its chapter, AC:T4)
    AC:T3.2/<first cell>    table row, keyed by its first cell            kind table-row

Text rules:
  * an entry's text excludes its own number but includes its descendants with their
    labels, so a clause's text is the whole clause as printed ("... before: (a) ...; or
    (b) ..., the Responsible Supplier ... shall ensure ...");
  * tables are *not* part of the introducing clause's text: they are their own entries
    (parent = the clause), so each cell is counted once;
  * table/row text is the cells joined by " | ", and rows joined by " || " in the table;
  * parent is the enclosing entry: a clause's nearest heading (sub-heading if one is in
    force in the chapter), a sub-item's clause or lettered item, a row's table.

Page layout: the converter left each page's running header ("SMETS1 – 23 March 2018") as
a paragraph of its own, often in the middle of a sentence.  Plain text that follows a
running header continues the paragraph before the page break (2.7 "... Testing During" /
"Transition)."); plain text after an ordinary blank line is a new paragraph of the clause
(e.g. the closing words of 3.1 after its sub-items).  A table row whose first cell is
empty continues the row before it (a row split by a page break).

Structural invariants (a violation raises InputError naming the line): chapters are
numbered 1, 2, 3, ... in order; a clause's chapter is the chapter of the heading in force;
clauses in a chapter are numbered 1, 2, 3, ... without gaps; sub-items run (a), (b), ...
and (i), (ii), ... without gaps; every line of text belongs to a clause; table rows have
as many cells as the header; a running header never appears inside a line of text.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic, paths
from ..catalogue import Catalogue, Entry, sha256_file
from ..errors import InputError

DOCUMENT = "AC"
DEFAULT_VERSION = "SMETS1-2018-03-23"

# Artefact classes: non-blank source lines that carry no clause text.
RUNNING_HEADER = "running-header"
TITLE = "title"

_RUNNING_HEADER = re.compile(r"SMETS1\s+[–-]\s+\d{1,2}\s+[A-Z][a-z]+\s+\d{4}")
_HEADING_MARK = re.compile(r"^\s*#{1,6}\s+")
_BOLD_LINE = re.compile(r"^\s*\*\*[^*].*\*\*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+")
_CLAUSE = re.compile(r"^\s*(?:[-*+]\s+)?(\d+)\.(\d+)\s+(\S.*)$")
_ITEM = re.compile(r"^\s*[-*+]\s+\(([a-z]+)\)\s*(.*)$")
_CHAPTER_TITLE = re.compile(r"^(\d+)\s+(\S.*)$")
_TERM = re.compile(r'^["“]([^"”]+)["”]')

_ROMANS = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x",
           "xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii", "xviii", "xix", "xx")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"

# Inline tags vanish without a trace ("<u>Root</u>s" is one word); block tags separate text.
_INLINE_TAG = re.compile(r"</?(?:u|b|i|em|strong|span|sup|sub|s|strike|del|ins)(?:\s[^>]*)?>", re.I)
_BLOCK_TAG = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^>]*)?/?>", re.I)
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!'\"<>|])")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_EMPHASIS = re.compile(r"\*(\S(?:.*?\S)?)\*")
_WS = re.compile(r"\s+")


def clean(text: str) -> str:
    """Markdown/HTML markup -> plain, whitespace-normalised text (wording untouched)."""
    text = _INLINE_TAG.sub("", text)
    text = _BLOCK_TAG.sub(" ", text)
    text = _STRONG.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = _MD_ESCAPE.sub(r"\1", text)
    text = html.unescape(text)
    return _WS.sub(" ", text).strip()


@dataclass
class _Node:
    id: str
    kind: str
    number: str | None = None
    title: str | None = None
    parent: str | None = None
    # Source order: str = a run of text, _Node = a child entry.  Sub-items are rendered
    # into this entry's text; tables, and a heading's clauses, are entries of their own.
    parts: list = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    columns: list[str] | None = None
    cells: dict[str, str] | None = None
    aliases: list[str] = field(default_factory=list)
    path_id: str = ""          # positional id ("AC:13.1(a)"), the base for nested items

    def children(self) -> list["_Node"]:
        return [p for p in self.parts if isinstance(p, _Node)]

    def add_text(self, text: str, line: int) -> None:
        if text:
            self.parts.append(text)
        self.lines.append(line)

    def text(self) -> str:
        if self.kind == "table":
            return " || ".join(" | ".join(r) for r in [self.columns] + [list(c.cells.values()) for c in self.children()])
        if self.kind == "table-row":
            return " | ".join(self.cells.values())
        out = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
            elif self.kind != "heading" and p.kind != "table":
                out.append(f"{p.number} {p.text()}")
        return " ".join(out)

    def span(self) -> tuple[int, int]:
        """First and last source line of this entry's text.  A heading is its own line
        (its clauses are entries of their own), and so is a table inside a clause."""
        lines = list(self.lines)
        for c in self.children():
            if self.kind != "heading" and (c.kind != "table" or self.kind == "table"):
                lines.extend(c.span())
        return (min(lines), max(lines))

    def to_entry(self) -> Entry:
        return Entry(id=self.id, kind=self.kind, text=self.text(), lines=self.span(),
                     number=self.number, title=self.title, parent=self.parent,
                     cells=dict(self.cells) if self.cells is not None else None,
                     columns=list(self.columns) if self.columns is not None else None,
                     aliases=list(self.aliases))


@dataclass
class ParseResult:
    entries: list[Entry]
    artefacts: dict[int, str]             # line -> artefact class (running header, title)
    contributions: dict[int, str]         # line -> id of the entry its text went into


class _Parser:
    def __init__(self, source: Path, lines: list[str]):
        self.file = str(source)
        self.lines = lines
        self.roots: list[_Node] = []      # headings, in order; everything else hangs below
        self.ids: dict[str, int] = {}     # id -> first line, for duplicate detection
        self.artefacts: dict[int, str] = {}
        self.contributions: dict[int, str] = {}
        self.chapter: _Node | None = None
        self.chapter_no = 0
        self.heading: _Node | None = None  # nearest heading in force (chapter or sub-heading)
        self.clause: _Node | None = None
        self.clause_no = 0
        self.letter: _Node | None = None
        self.roman: _Node | None = None
        self.paragraph: _Node | None = None  # where text continuing over a page break goes
        self.table: _Node | None = None
        self.tables_in: dict[str, int] = {}
        self.subheadings_in: dict[str, int] = {}
        self.page_break = False           # a running header since the last content line

    # -- errors and bookkeeping -------------------------------------------------------

    def fail(self, line: int, message: str) -> None:
        raise InputError(message, file=self.file, line=line,
                         clause=self.clause.id if self.clause else None)

    def register(self, node: _Node, line: int) -> _Node:
        if node.id in self.ids:
            self.fail(line, f"duplicate id {node.id!r} (first at line {self.ids[node.id]})")
        self.ids[node.id] = line
        return node

    def contribute(self, node: _Node, line: int, text: str) -> None:
        node.add_text(text, line)
        self.contributions[line] = node.id

    # -- main loop --------------------------------------------------------------------

    def run(self) -> ParseResult:
        for no, raw in enumerate(self.lines, start=1):
            if not raw.strip():
                continue
            if _RUNNING_HEADER.fullmatch(raw.strip()):
                self.artefacts[no] = RUNNING_HEADER
                self.page_break = True
                continue
            if _RUNNING_HEADER.search(raw):
                self.fail(no, "running header inside a line of text (page break not isolated)")
            if "\t" in raw:
                self.table_row(no, raw)
            else:
                self.table = None
                self.content(no, raw)
            self.page_break = False
        if self.chapter is None:
            raise InputError("no numbered chapter heading found; not an Appendix AC text", file=self.file)
        entries = [n.to_entry() for n in self.flatten()]
        return ParseResult(entries, self.artefacts, self.contributions)

    def flatten(self) -> list[_Node]:
        out: list[_Node] = []

        def walk(n: _Node) -> None:
            out.append(n)
            for c in n.children():
                walk(c)
        for r in self.roots:
            walk(r)
        return out

    def content(self, no: int, raw: str) -> None:
        if _HEADING_MARK.match(raw) or _BOLD_LINE.match(raw):
            self.heading_line(no, clean(_HEADING_MARK.sub("", raw)))
        elif m := _CLAUSE.match(raw):
            self.clause_line(no, int(m.group(1)), int(m.group(2)), clean(m.group(3)))
        elif m := _ITEM.match(raw):
            self.item_line(no, m.group(1), clean(m.group(2)), raw)
        elif _BULLET.match(raw):
            self.fail(no, "list item with neither a clause number nor a sub-item label")
        else:
            self.text_line(no, clean(raw))

    # -- headings ---------------------------------------------------------------------

    def heading_line(self, no: int, text: str) -> None:
        self.clause = self.letter = self.roman = self.paragraph = None
        m = _CHAPTER_TITLE.match(text)
        if m:
            number = int(m.group(1))
            if number != self.chapter_no + 1:
                self.fail(no, f"chapter {number} follows chapter {self.chapter_no}; expected {self.chapter_no + 1}")
            self.chapter_no, self.clause_no = number, 0
            node = _Node(id=f"{DOCUMENT}:{number}", kind="heading", number=str(number), title=m.group(2))
            self.contribute(node, no, f"{number} {m.group(2)}")
            self.roots.append(self.register(node, no))
            self.chapter = self.heading = node
        elif self.chapter is None:
            # "APPENDIX AC" / "Inventory Enrolment and Withdrawal Procedures": the
            # document's own title, already recorded as the catalogue's document.
            self.artefacts[no] = TITLE
        else:
            base = f"{self.chapter.id}/h/{text}"
            seen = self.subheadings_in.get(base, 0) + 1
            self.subheadings_in[base] = seen
            node = _Node(id=base if seen == 1 else f"{base}#{seen}", kind="heading", title=text,
                         parent=self.chapter.id)
            self.contribute(node, no, text)
            self.chapter.parts.append(self.register(node, no))
            self.heading = node

    # -- clauses and sub-items --------------------------------------------------------

    def clause_line(self, no: int, chapter: int, number: int, text: str) -> None:
        if self.chapter is None:
            self.fail(no, f"clause {chapter}.{number} before any chapter heading")
        if chapter != self.chapter_no:
            self.fail(no, f"clause {chapter}.{number} under the heading of chapter {self.chapter_no}")
        if number != self.clause_no + 1:
            self.fail(no, f"clause {chapter}.{number} follows clause {chapter}.{self.clause_no}; "
                          f"expected {chapter}.{self.clause_no + 1}")
        self.clause_no = number
        num = f"{chapter}.{number}"
        node = _Node(id=f"{DOCUMENT}:{num}", kind="clause", number=num, parent=self.heading.id)
        node.path_id = node.id
        self.heading.parts.append(self.register(node, no))
        self.clause, self.letter, self.roman, self.paragraph = node, None, None, node
        self.contribute(node, no, text)

    def item_line(self, no: int, label: str, text: str, raw: str) -> None:
        if self.clause is None:
            self.fail(no, f"sub-item ({label}) outside any clause")
        next_letter = _next(_LETTERS, self.letter.number[1:-1] if self.letter else None)
        next_roman = _next(_ROMANS, self.roman.number[1:-1] if self.roman else None) if self.letter else None
        if label == next_roman and label == next_letter:
            # Only "(i)" after "(h)", "(v)" after "(u)", "(x)" after "(w)": let indentation
            # decide, since nothing else can.
            is_roman = _indent(raw) > 0
        elif label == next_roman:
            is_roman = True
        elif label == next_letter:
            is_roman = False
        else:
            expected = " or ".join(f"({x})" for x in (next_letter, next_roman) if x)
            self.fail(no, f"sub-item ({label}) out of sequence in clause {self.clause.number}; expected {expected}")
        if is_roman:
            parent = self.letter
            node = _Node(id=f"{parent.path_id}({label})", kind="subclause", number=f"({label})", parent=parent.id)
            node.path_id = node.id
            self.roman = node
        else:
            parent = self.clause
            node = self.letter_node(label, text)
            self.letter, self.roman = node, None
        parent.parts.append(self.register(node, no))
        self.paragraph = node
        self.contribute(node, no, text)

    def letter_node(self, label: str, text: str) -> _Node:
        path_id = f"{self.clause.path_id}({label})"
        term = _TERM.match(text)
        if term and self.chapter.title.strip().lower() == "definitions":
            return _Node(id=f"{self.chapter.id}/{term.group(1).strip()}", kind="definition",
                         number=f"({label})", title=term.group(1).strip(), parent=self.clause.id,
                         aliases=[path_id], path_id=path_id)
        return _Node(id=path_id, kind="subclause", number=f"({label})", parent=self.clause.id, path_id=path_id)

    def text_line(self, no: int, text: str) -> None:
        if self.clause is None:
            self.fail(no, "text outside any clause")
        if self.page_break and self.paragraph is not None:
            target = self.paragraph          # the sentence runs on over the page break
        else:
            target = self.clause             # a new paragraph of the clause (its closing words)
            self.paragraph = self.clause
        self.contribute(target, no, text)

    # -- tables -----------------------------------------------------------------------

    def table_row(self, no: int, raw: str) -> None:
        cells = [clean(c) for c in raw.rstrip("\r\n").split("\t")]
        if self.table is None:
            self.table_start(no, cells)
            return
        table = self.table
        if len(cells) != len(table.columns):
            self.fail(no, f"table row has {len(cells)} cells; the header of {table.id} has {len(table.columns)}")
        if cells == table.columns:
            self.contributions[no] = table.id   # header repeated after a page break
            table.lines.append(no)
            return
        if not cells[0]:
            rows = table.children()
            if not rows:
                self.fail(no, f"first row of {table.id} has an empty first cell")
            # The row was split by a page break: the rest of its cells.
            row = rows[-1]
            for col, text in zip(table.columns, cells):
                if text:
                    row.cells[col] = f"{row.cells[col]} {text}".strip()
            self.contribute(row, no, "")
            return
        row = _Node(id=f"{table.id}/{cells[0]}", kind="table-row", parent=table.id,
                    cells=dict(zip(table.columns, cells)))
        table.parts.append(self.register(row, no))
        self.contribute(row, no, "")

    def table_start(self, no: int, columns: list[str]) -> None:
        if len(columns) < 2 or not all(columns):
            self.fail(no, "table header row needs two or more non-empty column headers")
        owner = self.clause or self.chapter
        if owner is None:
            self.fail(no, "table before any chapter heading")
        base = f"{DOCUMENT}:T{owner.number}"
        seen = self.tables_in.get(base, 0) + 1
        self.tables_in[base] = seen
        table = _Node(id=base if seen == 1 else f"{base}#{seen}", kind="table", parent=owner.id, columns=columns)
        owner.parts.append(self.register(table, no))
        self.contribute(table, no, "")
        self.table = table
        # Text after the table is the clause's own closing paragraph, not the last item's.
        self.paragraph = None


def _next(sequence, current: str | None) -> str | None:
    if current is None:
        return sequence[0]
    i = list(sequence).index(current) + 1
    return sequence[i] if i < len(sequence) else None


def _indent(raw: str) -> int:
    return len(raw) - len(raw.lstrip(" \t"))


def _read(source: Path) -> list[str]:
    try:
        text = Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(source)) from None
    except OSError as exc:
        raise InputError(f"cannot read source: {exc.strerror}", file=str(source)) from None
    return text.splitlines()


def parse_detailed(source: Path) -> ParseResult:
    """Entries plus, for every non-blank line, the entry it fed or the artefact it is."""
    return _Parser(Path(source), _read(source)).run()


def parse(source: Path) -> list[Entry]:
    return parse_detailed(source).entries


def _display_path(source: Path) -> str:
    """Repo-relative (posix) path when the source lies inside the project root."""
    resolved = Path(source).resolve()
    try:
        return resolved.relative_to(paths.root()).as_posix()
    except ValueError:
        return Path(source).as_posix()


# --- the older numbering the BAD quotes (spec/resolutions/AC-old-numbering.yaml) ------------------

OLD_NUMBERING = "AC-old-numbering.yaml"


def default_old_numbering() -> Path | None:
    path = paths.spec_dir() / "resolutions" / OLD_NUMBERING
    return path if path.is_file() else None


def _plain(text: str) -> str:
    return _WS.sub(" ", re.sub(r"<[^>]+>", " ", text)).strip()


def apply_old_numbering(entries: list[Entry], map_path: Path) -> list[Entry]:
    """Give each mapped clause its older citation as an alias (e.g. AC@BAD:7.1 on AC:8.1).

    Every mapping is proved from the quoting source: the named line must be a row of "SEC
    Appendix AC" whose clause column is the old number and which holds the quote verbatim, or the
    ingest stops naming the map file and the mapping."""
    import yaml

    rel = _display_path(map_path)
    try:
        data = yaml.safe_load(Path(map_path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the old-numbering map: {exc}", file=rel) from None
    prefix = data["alias_prefix"]
    quoting = (paths.root() / data["source"]).read_text(encoding="utf-8").splitlines()
    by_id = {e.id: e for e in entries}
    taken = {a for e in entries for a in e.aliases} | set(by_id)
    for m in data.get("mappings") or []:
        old, new, ev = str(m["old"]), m["new"], m["evidence"]
        where = f"mapping {old} -> {new}"
        line = quoting[ev["line"] - 1] if 0 < ev["line"] <= len(quoting) else ""
        cols = line.split("\t")
        if len(cols) < 4 or "Appendix AC" not in cols[1] or cols[2].strip() != old:
            raise InputError(f"{data['source']} line {ev['line']} is not the BAD's row for AC {old}", file=rel,
                             where=where)
        if _plain(ev["quote"]) not in _plain(line):
            raise InputError(f"the quote is not on {data['source']} line {ev['line']}", file=rel, where=where)
        if new not in by_id:
            raise InputError(f"{new} is not a clause of this catalogue", file=rel, where=where)
        alias = prefix + old
        if alias in taken:
            raise InputError(f"alias {alias} is given twice", file=rel, where=where)
        taken.add(alias)
        by_id[new].aliases.append(alias)
    return entries


_DEFAULT_MAP = object()


def build_catalogue(source: Path, version: str = DEFAULT_VERSION, old_numbering=_DEFAULT_MAP) -> Catalogue:
    """`old_numbering`: the map of older citations (default spec/resolutions/AC-old-numbering.yaml when
    present; None for none)."""
    source = Path(source)
    entries = parse(source)
    if old_numbering is _DEFAULT_MAP:
        old_numbering = default_old_numbering()
    if old_numbering is not None:
        entries = apply_old_numbering(entries, old_numbering)
    return Catalogue(document=DOCUMENT, version=version, source=_display_path(source),
                     source_sha256=sha256_file(source), entries=entries)


def ingest_to_file(source: Path, out: Path, version: str = DEFAULT_VERSION) -> Catalogue:
    """Build the catalogue and write it atomically: a reader sees the old file or the new."""
    cat = build_catalogue(source, version)
    atomic.write_text(out, cat.dump())
    return cat
