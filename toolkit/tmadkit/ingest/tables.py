"""Assembling the converter's tab-separated table lines into header, rows and cells.

A table reaches us as consecutive lines of tab-separated cells.  Word's page breaks leave
marks that are undone here:

* the header row is printed again at the top of each page: a line equal to the header
  (ignoring trailing empty cells) is a repeat, not a row;
* markdown rule lines (``---\t---``) are dropped;
* a row split by a page break continues, after the repeated header, in a row whose first
  cell is empty: its cells are appended to the row before the break.

Row keys (the last part of a row's catalogue id) come from the first cell (or a named key
column, see ``assemble``), whitespace
normalised; step numbers lose their inner spaces ("12.9.1. X" -> "12.9.1.X") and a trailing
colon is not part of a key ("CriticalSupplierCertificateID:" -> "CriticalSupplierCertificateID",
TMAD defect 18; the cell keeps the colon as printed).  A first cell that repeats within a
table gets "#2", "#3", ... in order.  A row with an empty first cell is

* ``preamble`` when it is the first row of the table: the lead-in sentence that states the
  outcome of every step ("Should any of the following checks fail, ...");
* a continuation of the previous row when a repeated header (a page break) separates them;
* otherwise ``row-<n>``, n being its 1-based position among the table's rows.

Cells holding HTML are rendered as readable text.  The converter sometimes printed a nested
HTML table a second time as extra tab cells of the same row and as further rows (Table 10.1,
"Signature"): those copies are checked cell by cell against the HTML and dropped, so the
text is kept exactly once.  Any other extra cell beyond the header is an error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .markup import html_to_text

# a markdown table rule: every cell dashes (or empty), at least one dash
RULE_CELL = re.compile(r"^-*$")
# step numbers as printed: "5.9.1", "12.9.1. X", "16.9.1.x", "5.25.2.X"
STEP_NUMBER = re.compile(r"^\d+(?:\.\s*(?:\d+|[Xx]))+\.?$")
NESTED_TABLE = re.compile(r"<table\b.*?</table>", re.I | re.S)
NESTED_ROW = re.compile(r"<tr\b[^>]*>(.*?)</tr>", re.I | re.S)
NESTED_CELL = re.compile(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", re.I | re.S)


class TableError(ValueError):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


@dataclass
class Row:
    key: str
    cells: list[str]
    lines: list[int]
    role: str                      # "row" | "preamble"


@dataclass
class Table:
    columns: list[str]
    rows: list[Row]
    roles: dict[int, str] = field(default_factory=dict)   # line -> what the line was

    @property
    def lines(self) -> list[int]:
        return sorted(self.roles)


def split_cells(line: str) -> list[str]:
    cells = [c.strip() for c in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _same(a: list[str], b: list[str]) -> bool:
    return [" ".join(x.split()) for x in a] == [" ".join(x.split()) for x in b]


def _is_rule(cells: list[str]) -> bool:
    return bool(cells) and all(RULE_CELL.match(c) for c in cells) and any(cells)


def row_key(first_cell: str) -> str:
    key = " ".join(first_cell.split())
    if STEP_NUMBER.match(key):
        key = key.replace(" ", "")
    return key.rstrip(":").strip()


def _nested_rows(cell: str) -> list[list[str]]:
    rows = []
    for table in NESTED_TABLE.findall(cell):
        for tr in NESTED_ROW.findall(table):
            rows.append([html_to_text(c) for c in NESTED_CELL.findall(tr)])
    return rows


def column_names(header: list[str]) -> list[str]:
    """Header cells as dict keys: an empty header cell is named by its position."""
    return [h if h else f"column {i + 1}" for i, h in enumerate(header)]


def assemble(lines: list[tuple[int, str]], *, has_header: bool = True, key_column: str | None = None) -> Table:
    """One table from its (line number, text) lines, in order.

    Rows are keyed by their first cell, or by the cell under the header ``key_column``.
    """
    if has_header:
        header_line, header_text = lines[0]
        header = [html_to_text(c) for c in split_cells(header_text)]
        body = lines[1:]
    else:
        header_line, header = None, []
        body = lines
    table = Table(columns=header, rows=[])
    if header_line is not None:
        table.roles[header_line] = "header"
    width = len(header) if has_header else 2
    key_index = header.index(key_column) if key_column else 0
    page_break = False
    pending_copies: list[list[str]] = []   # nested-table rows still expected as printed copies
    seen: dict[str, int] = {}

    for number, text in body:
        raw = split_cells(text)
        if _is_rule(raw):
            table.roles[number] = "rule"
            continue
        if has_header and _same(raw, header):
            table.roles[number] = "header-repeat"
            page_break = True
            continue
        cells = [html_to_text(c) for c in raw]
        if pending_copies and _same(cells, pending_copies[0]):
            pending_copies.pop(0)
            table.roles[number] = "nested-table-copy"
            continue
        nested = [r for c in raw for r in _nested_rows(c)]
        if nested and len(cells) > width:
            flat = [c for r in nested for c in r]
            if _same(cells[width:], flat):
                cells = cells[:width]
                pending_copies = [list(r) for r in nested]
        if len(cells) > width:
            raise TableError(f"table row has {len(cells)} cells, the header has {width}", number)
        cells += [""] * (width - len(cells))

        key = row_key(cells[key_index])
        if not key:
            if not table.rows:
                key, role = "preamble", "preamble"
            elif page_break and table.rows[-1].role == "row":
                previous = table.rows[-1]
                previous.cells = [" ".join(p for p in (a, b) if p) for a, b in zip(previous.cells, cells)]
                previous.lines.append(number)
                table.roles[number] = "row-continuation"
                page_break = False
                continue
            else:
                key, role = f"row-{len(table.rows) + 1}", "row"
        else:
            role = "row"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        table.rows.append(Row(key=key, cells=cells, lines=[number], role=role))
        table.roles[number] = role
        page_break = False
    return table

