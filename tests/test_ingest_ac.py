"""The Appendix AC ingester, checked against the real SMETS1 source (23 March 2018).

Expected counts and texts below were taken by reading the source, not from the parser.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tmadkit import catalogue, paths
from tmadkit.errors import InputError
from tmadkit.ingest import ac

SOURCE = paths.spec_dir() / "sources" / "SEC-AC-SMETS1-2018-03-23.md"
RUNNING_HEADER = "SMETS1 – 23 March 2018"


@pytest.fixture(scope="module")
def result() -> ac.ParseResult:
    return ac.parse_detailed(SOURCE)


@pytest.fixture(scope="module")
def cat() -> catalogue.Catalogue:
    return ac.build_catalogue(SOURCE)


def text(cat, clause_id: str) -> str:
    entry = cat.get(clause_id)
    assert entry is not None, f"{clause_id} missing from the catalogue"
    return entry.text


# -- structure ----------------------------------------------------------------------

CLAUSES_PER_CHAPTER = {1: 1, 2: 12, 3: 10, 4: 15, 5: 18, 6: 4, 7: 1, 8: 3, 9: 4, 10: 1, 11: 2, 12: 5, 13: 1}
# 3.1, 3.2, 3.4, 3.7 (2 each) + 3.8 (3); 4.2, 4.3, 4.6, 4.8, 4.12 (3 each) + 4.7 (2);
# 5.2 (2), 5.3 (3), 5.7 (3 + 3 romans), 5.8 (6), 5.9 (3 + 6 + 6 romans), 5.10 (4),
# 5.13, 5.14, 5.16 (2 each); 6.2 (2).
SUBCLAUSES_PER_CHAPTER = {3: 11, 4: 17, 5: 42, 6: 2}


def chapter_of(entry_id: str) -> int:
    return int(re.match(r"AC:(\d+)", entry_id).group(1))


def test_counts_by_kind(cat):
    kinds = Counter(e.kind for e in cat.entries)
    assert kinds == {"heading": 20, "clause": 77, "subclause": 72, "definition": 4,
                     "table": 1, "table-row": 7}
    assert len(cat.counted()) == 77 + 72 + 4 + 7


def test_clauses_per_chapter(cat):
    clauses = Counter(chapter_of(e.id) for e in cat.entries if e.kind == "clause")
    assert dict(clauses) == CLAUSES_PER_CHAPTER
    for chapter, n in CLAUSES_PER_CHAPTER.items():
        assert [e.id for e in cat.entries if e.kind == "clause" and chapter_of(e.id) == chapter] == \
               [f"AC:{chapter}.{i}" for i in range(1, n + 1)]


def test_subclauses_per_chapter(cat):
    subs = Counter(chapter_of(e.id) for e in cat.entries if e.kind == "subclause")
    assert dict(subs) == SUBCLAUSES_PER_CHAPTER


def test_headings(cat):
    chapters = [e for e in cat.entries if e.kind == "heading" and e.parent is None]
    assert [e.id for e in chapters] == [f"AC:{n}" for n in range(1, 14)]
    assert text(cat, "AC:4") == "4 Commissioning"
    assert cat.get("AC:4").title == "Commissioning"
    # The converter put eight spaces after the number; the heading text is normalised.
    assert text(cat, "AC:8") == "8 Reactivating Decommissioned, Withdrawn or Suspended Devices"
    assert text(cat, "AC:13") == "13 Definitions"
    subheadings = [e.id for e in cat.entries if e.kind == "heading" and e.parent is not None]
    assert subheadings == [
        "AC:3/h/Pre-Commissioning obligations in relation to SMETS2+ Devices",
        "AC:3/h/Pre-Commissioning obligations in relation to SMETS1 Devices",  # a bare **bold** line
        "AC:4/h/Commissioning of Communications Hub Functions",
        "AC:4/h/Adding Devices to Communication Hub Functions' Device Logs",
        "AC:4/h/Joining Devices to Smart Meters or Gas Proxy Functions",
        "AC:4/h/Commissioning of Devices other than Communications Hub Functions",
        "AC:5/h/General Obligations on DCC",
    ]
    assert cat.get("AC:4/h/Commissioning of Communications Hub Functions").lines == (106, 106)


def test_parents(cat):
    assert cat.get("AC:1.1").parent == "AC:1"
    assert cat.get("AC:3.4").parent == "AC:3/h/Pre-Commissioning obligations in relation to SMETS1 Devices"
    assert cat.get("AC:5.17").parent == "AC:5"
    assert cat.get("AC:5.18").parent == "AC:5/h/General Obligations on DCC"
    assert cat.get("AC:3.2(a)").parent == "AC:3.2"
    assert cat.get("AC:5.9(b)(vi)").parent == "AC:5.9(b)"
    assert cat.get("AC:T3.2").parent == "AC:3.2"
    assert cat.get("AC:T3.2/Root").parent == "AC:T3.2"
    assert cat.get("AC:13/keyUsage").parent == "AC:13.1"
    for e in cat.entries:
        assert e.parent is None or e.parent in cat, e.id


def test_ids_unique_and_in_document_order(cat, result):
    ids = [e.id for e in result.entries]
    assert len(ids) == len(set(ids))
    firsts = [e.lines[0] for e in result.entries]
    assert firsts == sorted(firsts)


# -- clause texts: page breaks and markup ---------------------------------------------

def test_clause_split_by_page_break_is_joined(cat):
    t = text(cat, "AC:2.7")
    assert t.endswith("under Section H14 (Testing Services) or Section T (Testing During Transition).")
    assert "SMETS1 –" not in t
    assert cat.get("AC:2.7").lines == (21, 25)
    assert text(cat, "AC:4.4").endswith("set the SMI Status of the Device to 'installed not commissioned'.")
    assert "held on Devices that are capable of being configured" in text(cat, "AC:3.3")
    assert "Supplier Party was the Responsible Supplier on that day:" in text(cat, "AC:5.10")
    assert "which require steps to be taken by any Party in relation to a newly Commissioned Device" in text(cat, "AC:9.4")


def test_subitem_split_by_page_break_is_joined(cat):
    assert text(cat, "AC:4.12(b)") == ("the Smart Meter has an SMI Status of 'commissioned', 'decommissioned', "
                                       "'withdrawn' or 'suspended'; and/or")
    assert "(in the case of Smart Meters only) 5.3(c) have not been carried out" in text(cat, "AC:5.14(a)")
    # (vi) sits unindented after the page break but is still the sixth roman of 5.9(b).
    assert cat.get("AC:5.9(b)(vi)").lines == (232, 232)


def test_clause_2_9_type_2_devices(cat):
    t = text(cat, "AC:2.9")
    assert "Type 2 Device" in t
    assert "no SMI Status" in t


def test_clause_text_includes_subitems_and_closing_words(cat):
    t = text(cat, "AC:3.1")
    assert t.startswith("Where the relevant Device is a SMETS2+ Device, before: (a) a Responsible Supplier")
    assert "; or (b) the DCC delivers a Communications Hub" in t
    assert t.endswith("populated with credentials in accordance with the requirements of Clause 3.2.")
    # The closing words belong to the clause, not to its last sub-item.
    assert "the Responsible Supplier or DCC" not in text(cat, "AC:3.1(b)")
    assert text(cat, "AC:5.14").endswith("(iii) maintaining an energy supply to the relevant premises.")
    # Inline "(i) ... (ii) ... (iii)" in running text are not list items.
    assert "AC:5.14(i)" not in cat
    assert text(cat, "AC:5.7(c)(ii)") == "at least two 'Update Security Credentials (Device)' Services Requests; and"


def test_declaration_in_3_8(cat):
    t = text(cat, "AC:3.8")
    assert '"[Full legal name of Supplier Party] hereby declares that [device model]: (a) consists of' in t
    assert t.endswith('for and on behalf of [Full legal name of Supplier Party]"')
    assert text(cat, "AC:3.8(c)") == "complies with the minimum technical requirements of,"


def test_no_markup_or_page_artefacts_in_text(cat):
    for e in cat.entries:
        for bad in (RUNNING_HEADER, "**", "<u>", "</u>", "<p>", "</p>", "#", "\t", "[*"):
            assert bad not in e.text, f"{e.id} contains {bad!r}"
        for cell in (e.cells or {}).values():
            assert "<" not in cell and "**" not in cell, e.id


# -- table ----------------------------------------------------------------------------

def test_remote_party_role_table(cat):
    table = cat.get("AC:T3.2")
    assert table.kind == "table"
    assert table.columns == ["Remote Party Role", "Certificate"]
    rows = [e for e in cat.entries if e.kind == "table-row"]
    assert [r.id for r in rows] == [f"AC:T3.2/{k}" for k in (
        "Root", "Recovery", "AccessControlBroker", "transitionalCoS", "Supplier", "networkOperator", "wanProvider")]
    assert cat.get("AC:T3.2/Root").cells == {"Remote Party Role": "Root", "Certificate": "a Root OCA Certificate"}
    assert table.text.startswith("Remote Party Role | Certificate || Root | a Root OCA Certificate || ")
    # The table is its own entry: the introducing clause's text keeps its own words only.
    assert "Root OCA" not in text(cat, "AC:3.2")
    assert text(cat, "AC:3.2").endswith("sub-paragraphs (f), (c), (a) and (a) of the definition of DCC Live Systems.")


def test_table_row_split_by_page_break_is_merged(cat):
    supplier = cat.get("AC:T3.2/Supplier")
    assert supplier.lines == (56, 60)
    assert supplier.cells["Certificate"] == (
        "one of the following: (a) one of the relevant Supplier Party's Organisation Certificates; "
        "(b) a DCC Access Control Broker Certificate; (c) (where the consent of that other Supplier Party "
        "has been given) one of that other Supplier Party's Organisation Certificates.")
    assert cat.get("AC:T3.2/networkOperator").cells["Certificate"].endswith(
        "(d) a DCC Access Control Broker Certificate.")
    assert "AC:T3.2/" not in [e.id for e in cat.entries]      # no row keyed by an empty cell


# -- definitions ----------------------------------------------------------------------

def test_definitions(cat):
    defs = [e for e in cat.entries if e.kind == "definition"]
    assert [d.id for d in defs] == ["AC:13/Trust Anchor Cell", "AC:13/keyUsage",
                                    "AC:13/Service Release 1.3", "AC:13/CH Production Proving"]
    assert [d.title for d in defs] == ["Trust Anchor Cell", "keyUsage", "Service Release 1.3", "CH Production Proving"]
    assert text(cat, "AC:13/CH Production Proving") == '"CH Production Proving" is the activity described in Clause 12.'
    # The positional citation still finds the definition.
    assert cat.get("AC:13.1(b)").id == "AC:13/keyUsage"
    assert '(a) "Trust Anchor Cell", in relation to any Device' in text(cat, "AC:13.1")


# -- every source line is accounted for ------------------------------------------------

_INLINE = re.compile(r"</?u>|\*")
_BLOCK = re.compile(r"</?p>")
_LEAD = re.compile(r"^\s*(?:#+\s*)?(?:[-*]\s+)?(?:\d+\.\d+\s+|\([a-z]+\)\s+)?")


def _fragments(raw: str) -> list[str]:
    """The words of a source line, by a deliberately naive reading independent of the parser."""
    out = []
    for cell in raw.split("\t"):
        words = " ".join(_BLOCK.sub(" ", _INLINE.sub("", _LEAD.sub("", cell, count=1))).split())
        if words:
            out.append(words)
    return out


def test_every_non_blank_line_is_accounted_for(result):
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    non_blank = {no for no, raw in enumerate(lines, 1) if raw.strip()}
    assert set(result.artefacts) | set(result.contributions) == non_blank
    assert not set(result.artefacts) & set(result.contributions)

    # The artefacts are exactly the running headers and the two title lines.
    headers = {no for no, raw in enumerate(lines, 1) if raw.strip() == RUNNING_HEADER}
    assert len(headers) == 20
    assert {no for no, kind in result.artefacts.items() if kind == ac.RUNNING_HEADER} == headers
    assert {no for no, kind in result.artefacts.items() if kind == ac.TITLE} == {3, 5}

    # Each contributing line's words are in its entry's text, within the entry's span.
    by_id = {e.id: e for e in result.entries}
    for no, entry_id in result.contributions.items():
        entry = by_id[entry_id]
        assert entry.lines[0] <= no <= entry.lines[1], (no, entry_id)
        for fragment in _fragments(lines[no - 1]):
            assert fragment in entry.text, f"line {no}: {fragment!r} not in {entry_id}"


def test_every_counted_entry_has_source_lines(result):
    fed = set(result.contributions.values())
    for e in result.entries:
        assert e.id in fed, e.id
        assert e.text, e.id


# -- determinism, fingerprints, the written catalogue ----------------------------------

def test_parse_is_deterministic(cat):
    assert ac.build_catalogue(SOURCE).dump() == cat.dump()


def test_fingerprints(cat):
    for d in cat.to_dict()["entries"]:
        assert d["fingerprint"] == catalogue.fingerprint(d["text"])


def test_catalogue_metadata(cat):
    assert (cat.document, cat.version) == ("AC", "SMETS1-2018-03-23")
    assert cat.source == "spec/sources/SEC-AC-SMETS1-2018-03-23.md"
    assert cat.source_sha256 == catalogue.sha256_file(SOURCE)


def test_committed_catalogue_is_current(cat):
    committed = catalogue.catalogue_path("AC", "SMETS1-2018-03-23")
    assert committed.read_text(encoding="utf-8") == cat.dump(), \
        "spec/catalogue/AC/SMETS1-2018-03-23.yaml is stale: re-run the AC ingest"
    loaded = catalogue.load("AC", "SMETS1-2018-03-23")
    assert [e.to_dict() for e in loaded.entries] == [e.to_dict() for e in cat.entries]


def test_ingest_to_file_round_trips(tmp_path, cat):
    out = tmp_path / "AC" / "SMETS1-2018-03-23.yaml"
    written = ac.ingest_to_file(SOURCE, out)
    assert out.read_text(encoding="utf-8") == written.dump() == cat.dump()
    again = catalogue.Catalogue.from_dict(yaml.safe_load(out.read_text(encoding="utf-8")))
    assert again.dump() == cat.dump()
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    # A repo file, not a private temp file: readable like any other file written here.
    probe = tmp_path / "probe"
    probe.write_text("")
    assert out.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777


def test_failed_ingest_leaves_previous_file_intact(tmp_path):
    out = tmp_path / "cat.yaml"
    out.write_text("previous\n", encoding="utf-8")
    bad = damaged(tmp_path, 28, "- 2.9 Any User", "- 2.6 Any User")
    with pytest.raises(InputError):
        ac.ingest_to_file(bad, out)
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AC.md", "cat.yaml"]


# -- damaged sources ------------------------------------------------------------------

def damaged(tmp_path: Path, line: int, old: str, new: str) -> Path:
    """A copy of the source with `old` replaced by `new` on one (1-based) line."""
    lines = SOURCE.read_text(encoding="utf-8").split("\n")
    assert old in lines[line - 1], f"line {line} does not contain {old!r}"
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path = tmp_path / "AC.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("line, old, new, message", [
    (28, "- 2.9 Any User", "- 2.6 Any User", "clause 2.6 follows clause 2.8"),
    (19, "- 2.5 No Party", "- 2.50 No Party", "expected 2.5"),
    (164, "4.13 Following", "5.13 Following", "clause 5.13 under the heading of chapter 4"),
    (303, "7 Unjoining", "8 Unjoining", "chapter 8 follows chapter 6"),
    (136, "- (b) the Communications", "- (d) the Communications", "sub-item (d) out of sequence"),
    (226, "- (iii) the number", "- (iv) the number", "sub-item (iv) out of sequence"),
    (62, "wanProvider\t", "wanProvider\textra\t", "table row has 3 cells"),
    (53, "Recovery\t", "Root\t", "duplicate id 'AC:T3.2/Root'"),
    (21, "(Testing During", "(Testing During SMETS1 – 23 March 2018", "running header inside a line"),
    (105, "", "A stray paragraph under a heading.", "text outside any clause"),
    (174, "5.2 As soon", "- As soon", "neither a clause number nor a sub-item label"),
])
def test_damaged_source_names_the_line(tmp_path, line, old, new, message):
    bad = damaged(tmp_path, line, old, new)
    with pytest.raises(InputError) as info:
        ac.parse(bad)
    assert info.value.line == line
    assert info.value.file == str(bad)
    assert f"{bad}:{line}" in str(info.value)
    assert message in str(info.value)


def test_missing_clause_is_an_error(tmp_path):
    # Losing a clause (e.g. to a bad conversion) would silently shrink the denominator.
    bad = damaged(tmp_path, 19, "- 2.5 No Party shall add", "")
    with pytest.raises(InputError) as info:
        ac.parse(bad)
    assert info.value.line == 20
    assert "clause 2.6 follows clause 2.4; expected 2.5" in str(info.value)


def test_not_utf8_is_an_error(tmp_path):
    bad = tmp_path / "AC.md"
    bad.write_bytes(SOURCE.read_bytes().replace("–".encode(), b"\x96", 1))
    with pytest.raises(InputError, match="not UTF-8"):
        ac.parse(bad)


def test_text_without_chapters_is_an_error(tmp_path):
    bad = tmp_path / "AC.md"
    bad.write_text("# **APPENDIX AC**\n\nSMETS1 – 23 March 2018\n", encoding="utf-8")
    with pytest.raises(InputError, match="no numbered chapter heading"):
        ac.parse(bad)
