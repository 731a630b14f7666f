"""Ingest the SMETS1 TMAD (SEC Appendix AL) into a clause catalogue.

The source (spec/sources/TMAD-AL-5.1-consultation-marked.md) is a Word->markdown conversion
of TMAD v5.1 with revision marks.  Three layers, each in its own module:

    resolutions.py  reviewed corrections for changes printed without marks and garbled rows
                    (spec/resolutions/TMAD-5.1.yaml), applied to the raw text first;
    markup.py       each line -> its "before" and "after" text (one pass, two views);
    tables.py       tab-separated lines -> header, rows, cells;
    this module     the document structure: chapters, headings, clauses, sub-items,
                    definitions, tables, and the catalogue entries.

Identifier scheme (ids are citation keys: they depend only on the printed numbering and
wording, never on line numbers, so they are stable across runs):

    TMAD:5                      chapter heading "5 Migration Process"          heading
    TMAD:A                      appendix heading "Appendix A ..."              heading
    TMAD:5/h/<title>            unnumbered sub-heading in chapter 5            heading
                                (a repeated title in one chapter gets "#2", ...)
    TMAD:5.10  TMAD:3.14D       clause, numbered as printed                    clause
    TMAD:A2    TMAD:C5          appendix clause, numbered as printed           clause
    TMAD:5.10(a)(i)             sub-item (labels as printed)                   subclause
    TMAD:3.14A/G2.44            quoted SEC paragraph inside a clause           subclause
    TMAD:3.14A/G2.44(a)         ... and its sub-items                          subclause
    TMAD:2/<Term>               definition in the Clause 2 table               definition
    TMAD:3.1(e)/<Term>          definition quoted in a clause for Section A    definition
    TMAD:T5.5   TMAD:TA2        captioned table "Table 5.5", "Table A2"        table
    TMAD:3.16/T                 uncaptioned table inside clause 3.16           table
    TMAD:T5.5/<first cell>      table row keyed by its first cell              table-row
    TMAD:T5.9/5.9.3             step tables are keyed by the step number       table-row
    TMAD:T8.7.1/E48             Tables 8.7.1 and 8.7.3 (a sentence in the first cell)
                                are keyed by their Response Code
    TMAD:T5.9/preamble          the lead-in row that states every step's outcome
                                (see tables.py for "#2" repeats, continuations, row-<n>)

Aliases: a clause renumbered by the revision (printed "4.234.24" or "~~4.35~~4.36") carries
the number of the other version as ``TMAD@<version>:<number>``: in the after view (v5.1)
``TMAD:4.24`` has alias ``TMAD@5.0:4.23``; its sub-items get the matching aliases
(``TMAD@5.0:4.30(a)``).  In the before view the alias points the other way (``TMAD@5.1:``).

Text rules:
  * a clause's text is its own words followed, in reading order, by its sub-items with their
    labels ("... as follows: (a) ...; (b) ..."); an entry's text excludes its own number;
  * definitions and tables are separate entries (parent = the enclosing entry) and are not
    repeated in the enclosing clause's text, so every word is counted once;
  * a table's text is its caption and header cells joined by " | "; a row's text is its
    non-empty cells joined by " | "; HTML in cells is rendered as text;
  * text before a chapter's first clause (the FOC placeholders) belongs to the chapter
    heading's text.

Continuation paragraphs (text lines that are neither a numbered clause, a sub-item, a
heading nor a table) belong to the entry that received the previous text when that text
is unfinished (ends mid-sentence, or with ":" introducing what follows: a page break split
the sentence); after a finished sentence (".", ";", ",") a paragraph following a sub-item
belongs to the item that owns the list (e.g. 3.14B's "is processed by ..." after (b)).
Known imperfection: A1's closing words follow "(e) Firmware", which has no punctuation,
so they are kept in A1(e) rather than A1 (A1's own text is complete either way).

A plain line is a sub-heading when it is short, starts with a capital, has no closing
punctuation, does not follow an introducing ":" and is followed by a numbered clause or a
table; "Table 5.5**Counters**" prints a caption and the next heading run together and is
split.  Clause numbers must rise within a chapter, so "4.29 to 4.32, provide ..." (a
sentence split before a number) is read as text, not as clause 4.29.

Resolutions: ``resolutions=None`` uses spec/resolutions/TMAD-<version>.yaml, the version taken
from the source file name ("TMAD-AL-5.1-..." -> TMAD-5.1.yaml), looked up next to the source's
spec/ folder and then in the project's spec/; pass a path to use another file.

Views: ``view="after"`` (v5.1, what the catalogue holds) and ``view="before"`` (the text
before the revision marks) come from the same parse.  The before view is best effort: see
``BEFORE_VIEW_LIMITS``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic, paths
from ..catalogue import Catalogue, Entry, normalise, sha256_file
from ..errors import InputError
from . import resolutions as resolutions_mod
from .markup import MarkedLine, MarkupError, inline_text, split_views, strip_emphasis
from .tables import Table, TableError, assemble, column_names, split_cells

DOCUMENT = "TMAD"
PREFIX = "TMAD:"
DEFAULT_VERSION = "5.1"
VERSION_OF_VIEW = {"after": "5.1", "before": "5.0"}
VIEWS = tuple(VERSION_OF_VIEW)

BEFORE_VIEW_LIMITS = """\
The before view removes insertions and keeps deletions, but text that changed without
revision marks is only restored where a resolution supplies the marks.  Known gaps:
  * clauses new in v5.1 but printed without marks still appear unless a resolution marks
    them (4.23, 4.23A, 4.44A and the replacement 3.7 are marked; the GroupID "DA" clauses
    3.14B-3.14F, 5.4A, 6.7, 11.3B, chapter 16 and Appendix C are not, because the sources
    give no evidence that they are new in 5.1 rather than in the consultation draft);
  * 4.34A, numbered against the new numbering, sits before old 4.34;
  * the garbled caption of Table 11.3B ("Table Error! Reference source not found.b") is
    read as text, so that table is catalogued as uncaptioned;
  * the baseline may be the consultation draft rather than v5.0 (see the disputed item
    'before-view-baseline' in the resolutions file).
"""

# --- line patterns ----------------------------------------------------------------------
# "5 **Migration Process**" (emphasis already stripped): the next chapter number, a title
CHAPTER_HEADING = re.compile(r"^(?P<num>\d{1,2})\s+(?P<title>\S.*)$")
APPENDIX_HEADING = re.compile(r"^Appendix (?P<num>[A-Z])\s+(?P<title>\S.*)$")
# a table caption on a line of its own, printed after the table body
CAPTION = re.compile(r"^Table\s+(?P<num>[A-Z]?\d+(?:\.\d+)*[A-Za-z]?)$")
# caption and the following bold heading run together: "Table 5.5**Counters**"
CAPTION_THEN_HEADING = re.compile(r"^(?P<caption>Table\s+[A-Z]?\d+(?:\.\d+)*[A-Za-z]?)\*\*(?P<heading>[^*]+)\*\*\s*$")
# a clause of chapter N: optional list dash, "N.M" or "N.MA", optional stray "-" ("3.14C-")
CHAPTER_CLAUSE = r"^(?:-\s+)?(?P<num>{chapter}\.\d+[A-Z]?)-?(?=\s|[A-Z]|$)\s*(?P<text>.*)$"
# a clause of appendix X: "A2 The checks ..."
APPENDIX_CLAUSE = r"^(?P<num>{chapter}\d+)(?=\s|$)\s*(?P<text>.*)$"
# a paragraph of another SEC Section quoted whole inside a clause ("G2.44 The DCC shall ...")
QUOTED_SECTION = re.compile(r"^(?P<num>G\d+\.\d+[A-Z]?)\s+(?P<text>.*)$")
# a list item "(a)", "(iv)", "(B)", "(2)" at line start, after an optional dash
LIST_ITEM = re.compile(r"^\s*(?:-\s+)?\((?P<label>[a-z]{1,4}|[A-Z]{1,2}|\d{1,2})\)\s*(?P<text>.*)$")
# an unlabelled markdown bullet: its text is ordinary continuation text
BULLET = re.compile(r"^\s*-\s+(?P<text>.*)$")
ROMAN = re.compile(r"^(?=[ivx])(x{0,3})(ix|iv|v?i{0,3})$")
# the lead-in of a quoted list of definitions (3.1(e), 3.1(g))
DEFINITIONS_LEAD_IN = re.compile(r"\bdefinitions\b.*\b(?:added|set out below)\b", re.I)
DEFINITIONS_HEADER = ["Term", "Meaning"]
# Tables whose first cell is a whole sentence: their rows are cited by the response code
# the check returns ("TMAD:T8.7.1/E48"), which is short, printed and unique in the table.
ROW_KEY_COLUMN = {"8.7.1": "Response Code", "8.7.3": "Response Code"}
FINISHED = re.compile(r"[.;,]\s*$|[;,]\s+(?:and|or)\s*$")


# --- the tree under construction -----------------------------------------------------------

@dataclass
class _Node:
    id: str
    kind: str
    number: str | None = None
    title: str | None = None
    parent: "_Node | None" = None
    label: str | None = None          # how the parent's text introduces it: "(a)", "G2.44"
    label_type: str | None = None     # letter | roman | upper | digit (list items only)
    parts: list = field(default_factory=list)   # str or _Node (sub-items), in reading order
    lines: set[int] = field(default_factory=set)
    aliases: list[str] = field(default_factory=list)
    cells: dict[str, str] | None = None
    columns: list[str] | None = None
    text_override: str | None = None  # tables and rows: text fixed at creation

    def text(self) -> str:
        if self.text_override is not None:
            return self.text_override
        out = []
        for part in self.parts:
            if isinstance(part, _Node):
                out.append(f"{part.label} {part.text()}".strip())
            else:
                out.append(part)
        return normalise(" ".join(out))

    def all_lines(self) -> set[int]:
        lines = set(self.lines)
        for part in self.parts:
            if isinstance(part, _Node):
                lines |= part.all_lines()
        return lines


@dataclass
class _Logical:
    """A line of the chosen view after layout splitting (one printed line can give two)."""
    lines: list[int]
    text: str
    forced: str | None = None          # "heading" | "caption" when the layout decided it
    renumbering: object = None

    @property
    def first(self) -> int:
        return self.lines[0]


@dataclass
class ParseResult:
    entries: list[Entry]
    roles: dict[int, list[str]]        # line -> what it fed ("entry:<id>") or what it is
    fragments: list[tuple[int, str, str]]  # (line, text appended, entry id): for coverage
    view_lines: dict[int, str]         # line -> text in the chosen view
    disputed: list[dict]


# --- list-label arithmetic ------------------------------------------------------------------

def _roman(n: int) -> str:
    out = ""
    for value, sym in ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + sym, n - value
    return out


def _roman_value(s: str) -> int:
    return next(i for i in range(1, 40) if _roman(i) == s)


def _label_types(label: str) -> list[str]:
    if label.isdigit():
        return ["digit"]
    if label.isupper():
        return ["upper"]
    types = []
    if ROMAN.match(label):
        types.append("roman")
    if len(label) == 1:
        types.append("letter")
    return types or ["letter"]


def _successor(label: str, kind: str) -> str:
    if kind == "digit":
        return str(int(label) + 1)
    if kind == "roman":
        return _roman(_roman_value(label) + 1)
    return chr(ord(label[-1]) + 1) if len(label) == 1 else label


def _is_first(label: str, kind: str) -> bool:
    return label == {"digit": "1", "roman": "i", "upper": "A", "letter": "a"}[kind]


def _clause_key(number: str) -> tuple[int, str]:
    m = re.match(r"^[A-Z]?(?:\d+\.)?(\d+)([A-Z]?)$", number)
    return (int(m.group(1)), m.group(2)) if m else (0, "")


# --- the parser -------------------------------------------------------------------------------

class _Parser:
    def __init__(self, source_name: str, marked: list[MarkedLine], view: str):
        self.source_name = source_name
        self.marked = marked
        self.view = view
        self.other_version = VERSION_OF_VIEW["before" if view == "after" else "after"]
        self.nodes: list[_Node] = []
        self.ids: dict[str, _Node] = {}
        self.roles: dict[int, list[str]] = {}
        self.fragments: list[tuple[int, str, str]] = []
        self.chapter: _Node | None = None
        self.chapter_number: str | None = None
        self.subheading: _Node | None = None
        self.clause: _Node | None = None        # the numbered clause in force
        self.list_root: _Node | None = None     # clause or quoted paragraph owning the list
        self.stack: list[_Node] = []            # open list items under list_root
        self.current: _Node | None = None       # the entry that received text last
        self.after_block = False                # a table ended the previous text
        self.last_clause_key: tuple[int, str] | None = None
        self.heading_titles: dict[str, int] = {}

    # -- bookkeeping
    def _role(self, line: int, role: str) -> None:
        self.roles.setdefault(line, []).append(role)

    def _add(self, node: _Node) -> _Node:
        base, n = node.id, 1
        while node.id in self.ids:
            n += 1
            node.id = f"{base}#{n}"
        self.ids[node.id] = node
        self.nodes.append(node)
        return node

    def _append_text(self, node: _Node, logical: _Logical, text: str) -> None:
        text = inline_text(text).strip()
        if text:
            node.parts.append(text)
        node.lines.update(logical.lines)
        for line in logical.lines:
            self._role(line, f"entry:{node.id}")
        self.fragments.append((logical.first, text, node.id))

    # -- layout: printed lines -> logical lines
    def _logical_lines(self) -> list[_Logical]:
        out: list[_Logical] = []
        pending: _Logical | None = None        # an open multi-line **bold** run
        for m in self.marked:
            text = m.view(self.view)
            if not text.strip():
                if pending is None:
                    continue
            if pending is not None:
                pending.lines.append(m.number)
                pending.text += " " + text.strip()
                if text.rstrip().endswith("**"):
                    pending.text = strip_emphasis(pending.text).strip()
                    out.append(pending)
                    pending = None
                continue
            stripped = text.strip()
            if stripped.startswith("**") and stripped.count("**") % 2 == 1:
                pending = _Logical([m.number], stripped)
                continue
            caption_heading = CAPTION_THEN_HEADING.match(stripped)
            if caption_heading:
                out.append(_Logical([m.number], caption_heading.group("caption"), "caption"))
                out.append(_Logical([m.number], caption_heading.group("heading").strip(), "heading"))
                continue
            if "****" in stripped:
                # bold runs printed back to back: a heading followed by another heading
                first, *rest = stripped.split("****")
                out.append(_Logical([m.number], strip_emphasis(first).strip(), None, m.renumbering))
                for part in rest:
                    out.append(_Logical([m.number], strip_emphasis(part).strip(), "heading"))
                continue
            out.append(_Logical([m.number], strip_emphasis(text).rstrip(), None, m.renumbering))
        if pending is not None:
            raise InputError("unterminated bold text '**'", file=self.source_name, line=pending.first)
        return out

    # -- classification helpers
    def _clause_match(self, text: str, renumbered: bool = False):
        if self.chapter_number is None:
            return None
        if self.chapter_number.isdigit():
            pattern = CHAPTER_CLAUSE.format(chapter=re.escape(self.chapter_number))
        else:
            pattern = APPENDIX_CLAUSE.format(chapter=re.escape(self.chapter_number))
        m = re.match(pattern, text)
        if not m or "\t" in text:
            return None
        if self.last_clause_key is not None and _clause_key(m.group("num")) <= self.last_clause_key \
                and not renumbered:
            # numbers rise: a smaller one is a reference that starts a line ("4.29 to 4.32,
            # provide ..."); a number printed as renumbered is a clause whatever its value
            return None
        return m

    def _chapter_match(self, text: str):
        if "\t" in text:
            return None
        m = CHAPTER_HEADING.match(text)
        if m and self.chapter_number is not None and self.chapter_number.isdigit() \
                and int(m.group("num")) == int(self.chapter_number) + 1:
            return m
        if m and self.chapter_number is None and m.group("num") == "1":
            return m
        m = APPENDIX_HEADING.match(text)
        if m and self.chapter_number is not None:
            expected = "A" if self.chapter_number.isdigit() else chr(ord(self.chapter_number) + 1)
            if m.group("num") == expected:
                return m
        return None

    def _looks_like_heading(self, logical: _Logical, following: _Logical | None) -> bool:
        text = logical.text.strip()
        if len(text) > 100 or not text[:1].isupper() or text[-1] in ".;:,":
            return False
        if BULLET.match(logical.text) or LIST_ITEM.match(logical.text):
            return False
        if self.current is not None and not self.after_block and self.current.text().endswith(":"):
            return False
        if following is None:
            return False
        return "\t" in following.text or bool(
            self._clause_match(following.text.strip(), renumbered=following.renumbering is not None))

    # -- structure
    def _start_chapter(self, logical: _Logical, m) -> None:
        number = m.group("num")
        appendix = not number.isdigit()
        title = m.group("title").strip()
        node = self._add(_Node(id=f"{PREFIX}{number}", kind="heading", number=number, title=title))
        self._append_text(node, logical, f"Appendix {number} {title}" if appendix else f"{number} {title}")
        self.chapter, self.chapter_number = node, number
        self.subheading = self.clause = self.list_root = self.current = None
        self.stack = []
        self.last_clause_key = None
        self.heading_titles = {}
        self.after_block = False

    def _start_subheading(self, logical: _Logical) -> None:
        title = normalise(logical.text)
        n = self.heading_titles[title] = self.heading_titles.get(title, 0) + 1
        suffix = f"#{n}" if n > 1 else ""
        node = self._add(_Node(id=f"{self.chapter.id}/h/{title}{suffix}", kind="heading",
                               title=title, parent=self.chapter))
        self._append_text(node, logical, title)
        self.subheading = node
        # a heading closes the clause: following text cannot continue it
        self.clause = self.list_root = self.current = None
        self.stack = []
        self.after_block = False

    def _start_clause(self, logical: _Logical, m) -> None:
        number = m.group("num")
        node = self._add(_Node(id=f"{PREFIX}{number}", kind="clause", number=number,
                               parent=self.subheading or self.chapter))
        renumbering = logical.renumbering
        if renumbering is not None:
            old = renumbering.old if self.view == "after" else renumbering.new
            if old != number:
                node.aliases.append(f"{DOCUMENT}@{self.other_version}:{old}")
        self._append_text(node, logical, m.group("text"))
        self.clause = self.list_root = self.current = node
        self.stack = []
        self.last_clause_key = _clause_key(number)
        self.after_block = False

    def _start_quoted_section(self, logical: _Logical, m) -> None:
        number = m.group("num")
        node = self._add(_Node(id=f"{self.clause.id}/{number}", kind="subclause", number=number,
                               parent=self.clause, label=number))
        self.clause.parts.append(node)
        self._append_text(node, logical, m.group("text"))
        self.list_root = self.current = node
        self.stack = []
        self.after_block = False

    def _start_list_item(self, logical: _Logical, m) -> None:
        label = m.group("label")
        types = _label_types(label)
        parent, kind = None, None
        for depth in range(len(self.stack) - 1, -1, -1):         # the next item of an open list
            item = self.stack[depth]
            if item.label_type in types and _successor(item.label.strip("()"), item.label_type) == label:
                parent = self.stack[depth - 1] if depth else self.list_root
                kind = item.label_type
                del self.stack[depth:]
                break
        if parent is None:
            first = [t for t in types if _is_first(label, t)]
            if first:                                             # a new list, one level down
                parent, kind = (self.stack[-1] if self.stack else self.list_root), first[0]
        if parent is None:
            for depth in range(len(self.stack) - 1, -1, -1):     # a gap in an open list
                if self.stack[depth].label_type in types:
                    parent = self.stack[depth - 1] if depth else self.list_root
                    kind = self.stack[depth].label_type
                    del self.stack[depth:]
                    break
        if parent is None:
            parent, kind = (self.stack[-1] if self.stack else self.list_root), types[0]
        node = self._add(_Node(id=f"{parent.id}({label})", kind="subclause", number=f"({label})",
                               parent=parent, label=f"({label})", label_type=kind))
        parent.parts.append(node)
        self._append_text(node, logical, m.group("text"))
        self.stack.append(node)
        self.current = node
        self.after_block = False

    def _continue(self, logical: _Logical, text: str) -> None:
        target = self.current
        if target is None:
            # text before the chapter's first clause belongs to the heading in force
            target = self.subheading or self.chapter
            self._append_text(target, logical, text)
            return
        finished = self.after_block or bool(FINISHED.search(target.text()))
        if finished and target.label_type is not None:
            # a paragraph after a finished list item returns to the item owning the list
            target = target.parent
            while self.stack and self.stack[-1] is not target:
                self.stack.pop()
        self._append_text(target, logical, text)
        self.current = target
        self.after_block = False

    # -- tables
    def _owner(self) -> _Node:
        return self.current or self.subheading or self.chapter

    def _take_table(self, block: list[_Logical], caption: _Logical | None) -> None:
        lines = [(lg.first, lg.text) for lg in block]
        owner = self._owner()
        first_cells = split_cells(block[0].text)
        is_definitions = first_cells == DEFINITIONS_HEADER or (
            caption is None and owner is not None and owner is not self.chapter
            and DEFINITIONS_LEAD_IN.search(owner.text() or "") and len(first_cells) == 2)
        caption_number = CAPTION.match(caption.text.strip()).group("num") if caption else None
        try:
            table = assemble(lines, has_header=not (is_definitions and first_cells != DEFINITIONS_HEADER),
                             key_column=ROW_KEY_COLUMN.get(caption_number))
        except TableError as exc:
            raise InputError(str(exc), file=self.source_name, line=exc.line) from None
        for line, role in table.roles.items():
            if role in ("header", "header-repeat", "rule", "nested-table-copy"):
                self._role(line, role)
        if is_definitions:
            self._take_definitions(table, owner)
        else:
            self._take_plain_table(table, caption, owner)
        self.after_block = True

    def _take_definitions(self, table: Table, owner: _Node) -> None:
        owner_id = self.chapter.id if owner is self.chapter or owner is self.subheading else owner.id
        parent = self.chapter if owner is self.subheading else owner
        by_term: dict[str, _Node] = {}
        for row in table.rows:
            term = normalise(row.cells[0])
            meaning = normalise(" ".join(row.cells[1:]))
            if not term:
                raise InputError("definition row without a term", file=self.source_name, line=row.lines[0])
            existing = by_term.get(term)
            if existing is not None and existing.text() == meaning:
                for line in row.lines:   # printed twice, word for word: one definition
                    self._role(line, f"duplicate-of:{existing.id}")
                continue
            node = self._add(_Node(id=f"{owner_id}/{term}", kind="definition", title=term,
                                   parent=parent, text_override=meaning))
            node.lines.update(row.lines)
            by_term.setdefault(term, node)
            for line in row.lines:
                self._role(line, f"entry:{node.id}")
            self.fragments.append((row.lines[0], term, "(title)"))
            self.fragments.append((row.lines[0], meaning, node.id))

    def _take_plain_table(self, table: Table, caption: _Logical | None, owner: _Node) -> None:
        columns = table.columns
        if caption is not None:
            number = CAPTION.match(caption.text.strip()).group("num")
            table_id, title = f"{PREFIX}T{number}", f"Table {number}"
            parent = self.clause or self.subheading or self.chapter
        else:
            number, title = None, None
            table_id = f"{owner.id}/T"
            parent = owner
        header_text = " | ".join(c for c in columns if c)
        node = self._add(_Node(id=table_id, kind="table", number=number, title=title, parent=parent,
                               columns=list(columns),
                               text_override=normalise(f"{title} {header_text}" if title else header_text)))
        node.lines.update(table.lines)
        if caption is not None:
            node.lines.update(caption.lines)
            for line in caption.lines:
                self._role(line, f"caption:{node.id}")
        names = column_names(columns)
        for row in table.rows:
            cells = {name: normalise(cell) for name, cell in zip(names, row.cells)}
            text = " | ".join(v for v in cells.values() if v)
            is_step = bool(re.match(r"^\d+(\.[\dXx]+)+$", row.key))
            rnode = self._add(_Node(id=f"{node.id}/{row.key}", kind="table-row",
                                    number=row.key if is_step else None, parent=node,
                                    cells=cells, text_override=normalise(text)))
            rnode.lines.update(row.lines)
            for line in row.lines:
                self._role(line, f"entry:{rnode.id}")
            for cell in row.cells:
                self.fragments.append((row.lines[0], cell, rnode.id))

    # -- the walk
    def run(self) -> list[_Node]:
        logical = self._logical_lines()
        i = 0
        while i < len(logical):
            lg = logical[i]
            text = lg.text.strip()
            following = logical[i + 1] if i + 1 < len(logical) else None

            chapter = None if lg.forced else self._chapter_match(text)
            if chapter:
                self._start_chapter(lg, chapter)
                i += 1
                continue
            if self.chapter is None:
                for line in lg.lines:
                    self._role(line, "front-matter")
                i += 1
                continue
            if "\t" in lg.text:
                block = []
                while i < len(logical) and "\t" in logical[i].text:
                    block.append(logical[i])
                    i += 1
                caption = None
                if i < len(logical) and CAPTION.match(logical[i].text.strip()):
                    caption = logical[i]
                    i += 1
                self._take_table(block, caption)
                continue
            if lg.forced == "heading":
                self._start_subheading(lg)
                i += 1
                continue
            if lg.forced == "caption" or CAPTION.match(text):
                raise InputError(f"table caption {text!r} does not follow a table",
                                 file=self.source_name, line=lg.first)
            clause = self._clause_match(text, renumbered=lg.renumbering is not None)
            if clause:
                self._start_clause(lg, clause)
            elif self.clause is not None and QUOTED_SECTION.match(text):
                self._start_quoted_section(lg, QUOTED_SECTION.match(text))
            elif self.list_root is not None and LIST_ITEM.match(lg.text):
                self._start_list_item(lg, LIST_ITEM.match(lg.text))
            elif self._looks_like_heading(lg, following):
                self._start_subheading(lg)
            else:
                bullet = BULLET.match(lg.text)
                self._continue(lg, bullet.group("text") if bullet else text)
            i += 1
        self._propagate_aliases()
        return self.nodes

    def _propagate_aliases(self) -> None:
        def walk(node: _Node, alias_base: str | None) -> None:
            for part in node.parts:
                if isinstance(part, _Node):
                    alias = None
                    if alias_base is not None:
                        joiner = "/" if part.label and not part.label.startswith("(") else ""
                        alias = f"{alias_base}{joiner}{part.label}"
                        part.aliases.append(alias)
                    walk(part, alias)
        for node in self.nodes:
            if node.kind == "clause" and node.aliases:
                walk(node, node.aliases[0])


# --- public API --------------------------------------------------------------------------------

def _read(source: Path) -> str:
    try:
        return Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(source)) from None
    except OSError as exc:
        raise InputError(f"cannot read source: {exc.strerror}", file=str(source)) from None


def _display_path(source: Path) -> str:
    """Repo-relative (posix) path when the source lies inside the project root."""
    resolved = Path(source).resolve()
    try:
        return resolved.relative_to(paths.root()).as_posix()
    except ValueError:
        return Path(source).as_posix()


def default_resolutions(source: Path) -> Path | None:
    """spec/resolutions/TMAD-<version>.yaml for a source named like 'TMAD-AL-5.1-...'."""
    m = re.search(r"(\d+\.\d+)", Path(source).name)
    if not m:
        return None
    name = f"{DOCUMENT}-{m.group(1)}.yaml"
    for base in (Path(source).resolve().parent.parent, paths.spec_dir()):
        candidate = base / "resolutions" / name
        if candidate.is_file():
            return candidate
    return None


def mark_lines(text: str, source_name: str) -> list[MarkedLine]:
    marked = []
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            marked.append(split_views(line, number))
        except MarkupError as exc:
            raise InputError(str(exc), file=source_name, line=number) from None
    return marked


def parse_detailed(source: Path, *, view: str = "after", resolutions: Path | None = None) -> ParseResult:
    """Entries plus, for every line, what it fed or what layout artefact it is."""
    if view not in VIEWS:
        raise InputError(f"unknown view {view!r} (expected one of {', '.join(VIEWS)})")
    source = Path(source)
    name = _display_path(source)
    rset = resolutions_mod.load(Path(resolutions) if resolutions is not None else default_resolutions(source))
    text = resolutions_mod.apply(_read(source).replace("\r\n", "\n"), rset, name)
    marked = mark_lines(text, name)
    parser = _Parser(name, marked, view)
    nodes = parser.run()
    entries = []
    for node in nodes:
        lines = node.all_lines()
        entries.append(Entry(
            id=node.id, kind=node.kind, text=node.text(), lines=(min(lines), max(lines)),
            number=node.number, title=node.title, parent=node.parent.id if node.parent else None,
            cells=node.cells, columns=node.columns, aliases=list(node.aliases)))
    view_lines = {m.number: m.view(view) for m in marked}
    return ParseResult(entries=entries, roles=parser.roles, fragments=parser.fragments,
                       view_lines=view_lines, disputed=rset.disputed)


def parse(source: Path, *, view: str = "after", resolutions: Path | None = None) -> list[Entry]:
    return parse_detailed(source, view=view, resolutions=resolutions).entries


def build_catalogue(source: Path, version: str = DEFAULT_VERSION, view: str = "after",
                    resolutions: Path | None = None) -> Catalogue:
    source = Path(source)
    return Catalogue(document=DOCUMENT, version=version, source=_display_path(source),
                     source_sha256=sha256_file(source),
                     entries=parse(source, view=view, resolutions=resolutions))


def ingest_to_file(source: Path, out: Path, version: str = DEFAULT_VERSION, view: str = "after") -> Catalogue:
    """Build the catalogue and write it atomically: a reader sees the old file or the new."""
    cat = build_catalogue(source, version, view)
    atomic.write_text(out, cat.dump())
    return cat
