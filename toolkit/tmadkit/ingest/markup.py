"""Tracked changes in the Word->markdown TMAD text, turned into two views of each line.

The source is v5.1 with revision marks: ``~~struck~~`` text was deleted and ``<u>underlined</u>``
text was inserted.  Every line is split once into

    before  the text as it stood before the changes (deletions kept, insertions dropped)
    after   the text as it stands after them        (insertions kept, deletions dropped)

so both views come from a single pass and cannot drift apart.

Conversion artefacts handled here, because they are tied to the revision marks:

* A cross-reference whose field was updated prints as the new link text next to the old
  struck text: ``[Table 5.5](#)~~Table 5-5~~`` or ``~~Table 5.9~~ [Table 5.9](#)``.  The link is
  treated as the insertion that replaced the struck text (after "Table 5.5", before
  "Table 5-5").  Any other ``[text](#)`` link is just its text, in both views.
* A link whose text repeats its own label, ``[(a)4.8(a)](#)`` (TMAD defect 22), is printed as
  the reference it stands for, ``4.8(a)``, but only when the leading and trailing labels agree;
  otherwise the link text is kept verbatim.
* A renumbered clause prints old and new numbers run together at the start of its line:
  ``4.234.24`` is old 4.23, new 4.24.  Only the clause-number position is examined (line
  start, after an optional ``- ``), both halves must be in the same chapter, and an ambiguous
  split must be settled by "new = old + 1"; numbers inside text are never touched.
* A reference printed twice with nothing between, ``Table 5.9 Table 5.9`` (old and new field
  text run together with no mark), is printed once.  Only exact repeats of "Table N" or
  "Clause N" separated by whitespace are collapsed; nothing else is de-duplicated.

Unbalanced marks (an odd number of ``~~``, a ``<u>`` without ``</u>``) make the line
unparseable: ``split_views`` raises ``MarkupError`` and the caller reports the line.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

# ~~deleted text~~ (non-greedy: adjacent deletions stay separate)
DELETION = re.compile(r"~~(.*?)~~")
# <u>inserted text</u>
INSERTION = re.compile(r"<u>(.*?)</u>")
# [link text](#): the converter's rendering of a Word cross-reference field
LINK = re.compile(r"\[((?:[^\[\]\\]|\\.)*)\]\(#\)")
# a link immediately followed, or preceded, by the struck text it replaced
LINK_THEN_DELETION = re.compile(r"\[((?:[^\[\]\\]|\\.)*)\]\(#\) ?~~([^~]*)~~")
DELETION_THEN_LINK = re.compile(r"~~([^~]*)~~ ?\[((?:[^\[\]\\]|\\.)*)\]\(#\)")
# "(a)4.8(a)" inside a link: label, clause number, label again (markdown-escaped or not)
LABEL_NUMBER_LABEL = re.compile(r"^\\?\((\w+)\\?\)(\d+(?:\.\d+)*[A-Z]?)\\?\((\w+)\\?\)$")
# markdown backslash escapes of ASCII punctuation ("\(" -> "("); "SerialNumbers\ESME" is kept
MARKDOWN_ESCAPE = re.compile(r"\\([()\[\]*_#`])")
# the clause-number position: optional list dash, then old and new numbers run together
RUN_TOGETHER_NUMBER = re.compile(r"^(?P<lead>\s*(?:-\s+)?)(?P<digits>\d+\.\d+[A-Z]?\d+\.\d+[A-Z]?)(?=\s|$)")
CLAUSE_NUMBER = re.compile(r"^(\d+)\.(\d+)([A-Z]?)$")
# the clause number at the start of a line whose number itself carries marks ("~~4.35~~4.36")
LEADING_CLAUSE_NUMBER = re.compile(r"^\s*(?:-\s+)?(\d+\.\d+[A-Z]?)(?=\s|$)")
# "Table 5.9 Table 5.9" / "Clause 4.8 Clause 4.8": one reference printed twice
DOUBLED_REFERENCE = re.compile(r"\b((?:Table|Clause) [A-C]?\d+(?:\.\d+)*[A-Za-z]?) \1(?![\w.]*\d)")


class MarkupError(ValueError):
    """A line whose revision marks cannot be read."""


@dataclass(frozen=True)
class Renumbering:
    old: str
    new: str


@dataclass(frozen=True)
class MarkedLine:
    number: int                      # 1-based line number in the source
    source: str                      # the line as printed (after resolutions)
    before: str
    after: str
    renumbering: Renumbering | None  # the clause number changed at this line

    def view(self, name: str) -> str:
        return self.after if name == "after" else self.before


def _check_balanced(line: str) -> None:
    if line.count("~~") % 2:
        raise MarkupError("unbalanced deletion mark '~~'")
    if line.count("<u>") != line.count("</u>"):
        raise MarkupError("unbalanced insertion mark '<u>' ... '</u>'")
    stripped = INSERTION.sub("", DELETION.sub("", line))
    if "<u>" in stripped or "</u>" in stripped:
        raise MarkupError("insertion mark '<u>' ... '</u>' out of order")


def _link_text(text: str) -> str:
    """The printed reference a cross-reference link stands for."""
    m = LABEL_NUMBER_LABEL.match(text)
    if m and m.group(1) == m.group(3):
        return f"{m.group(2)}({m.group(3)})"
    return MARKDOWN_ESCAPE.sub(r"\1", text)


def _links_as_revisions(line: str) -> str:
    """Rewrite 'new link next to old struck text' as an explicit replacement."""
    line = LINK_THEN_DELETION.sub(lambda m: f"~~{m.group(2)}~~<u>{_link_text(m.group(1))}</u>", line)
    line = DELETION_THEN_LINK.sub(lambda m: f"~~{m.group(1)}~~<u>{_link_text(m.group(2))}</u>", line)
    return LINK.sub(lambda m: _link_text(m.group(1)), line)


def _number_key(number: str) -> tuple[int, int, str] | None:
    m = CLAUSE_NUMBER.match(number)
    return (int(m.group(1)), int(m.group(2)), m.group(3)) if m else None


def split_run_together(digits: str) -> Renumbering | None:
    """'4.234.24' -> Renumbering('4.23', '4.24'); None when no same-chapter split exists.

    Every split into two clause numbers of one chapter is a candidate; a single candidate
    is taken, several are settled by 'new is old + 1', and anything else is left alone.
    """
    candidates = []
    for cut in range(3, len(digits) - 2):
        old, new = digits[:cut], digits[cut:]
        ko, kn = _number_key(old), _number_key(new)
        if ko and kn and ko[0] == kn[0] and old[0] != "0" and new[0] != "0":
            candidates.append((ko, kn, old, new))
    if len(candidates) > 1:
        candidates = [c for c in candidates if c[1][1] == c[0][1] + 1]
    if len(candidates) != 1:
        return None
    _, _, old, new = candidates[0]
    return Renumbering(old, new)


def _apply_renumbering(before: str, after: str) -> tuple[str, str, Renumbering | None]:
    renumbering = None
    m_after = RUN_TOGETHER_NUMBER.match(after)
    if m_after:
        split = split_run_together(m_after.group("digits"))
        if split:
            renumbering = split
            after = after[: m_after.start("digits")] + split.new + after[m_after.end("digits"):]
    m_before = RUN_TOGETHER_NUMBER.match(before)
    if m_before:
        split = split_run_together(m_before.group("digits"))
        if split:
            renumbering = renumbering or split
            before = before[: m_before.start("digits")] + split.old + before[m_before.end("digits"):]
    return before, after, renumbering


def _explicit_renumbering(before: str, after: str) -> Renumbering | None:
    """'~~4.35~~4.36 Where ...': the number itself carries the revision marks."""
    mb, ma = LEADING_CLAUSE_NUMBER.match(before), LEADING_CLAUSE_NUMBER.match(after)
    if mb and ma and mb.group(1) != ma.group(1):
        kb, ka = _number_key(mb.group(1)), _number_key(ma.group(1))
        if kb and ka and kb[0] == ka[0]:
            return Renumbering(mb.group(1), ma.group(1))
    return None


def collapse_doubled_references(text: str) -> str:
    return DOUBLED_REFERENCE.sub(r"\1", text)


def split_views(line: str, number: int = 0) -> MarkedLine:
    """One printed line -> its before and after texts (raises MarkupError)."""
    _check_balanced(line)
    marked = _links_as_revisions(line)
    _check_balanced(marked)
    after = INSERTION.sub(r"\1", DELETION.sub("", marked))
    before = DELETION.sub(r"\1", INSERTION.sub("", marked))
    before, after, renumbering = _apply_renumbering(before, after)
    renumbering = renumbering or _explicit_renumbering(before, after)
    return MarkedLine(number=number, source=line,
                      before=collapse_doubled_references(before),
                      after=collapse_doubled_references(after),
                      renumbering=renumbering)


# --- HTML inside table cells and definitions -------------------------------------------

AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
BLOCK_TAG = re.compile(r"</?(?:p|ul|ol|li|table|thead|tbody|tr|br)\b[^<>]*>", re.I)
CELL_TAG = re.compile(r"</t[dh]>", re.I)


def html_to_text(text: str) -> str:
    """Readable text from a cell's HTML: tags dropped, list markers and URLs kept.

    The converter left <ul>/<ol> without <li>; the bullets ("•", "1.") that Word printed
    are plain text and so survive.  Nested-table cells are separated by " | " so a
    parameter and its value stay distinguishable.
    """
    text = AUTOLINK.sub(r"\1", text)
    text = CELL_TAG.sub(" | ", text)
    text = re.sub(r"</tr>", " ; ", text, flags=re.I)
    text = BLOCK_TAG.sub(" ", text)
    text = HTML_TAG.sub(" ", text)
    text = html.unescape(text)
    text = re.sub(r"\s*\|\s*;\s*", " ; ", text)  # a row's last cell separator before the row end
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(" ;")


def inline_text(text: str) -> str:
    """Running text outside tables: autolinks "<https://...>" printed as their URL."""
    return AUTOLINK.sub(r"\1", text)


def strip_emphasis(text: str) -> str:
    return text.replace("**", "")
