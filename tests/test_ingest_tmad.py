"""The TMAD ingester against the real source text (no mocks)."""
from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tmadkit.catalogue import Catalogue, normalise
from tmadkit.errors import InputError
from tmadkit.ingest import tmad
from tmadkit.ingest.markup import split_run_together, split_views

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "spec" / "sources" / "TMAD-AL-5.1-consultation-marked.md"
RESOLUTIONS = ROOT / "spec" / "resolutions" / "TMAD-5.1.yaml"
CATALOGUE = ROOT / "spec" / "catalogue" / "TMAD" / "5.1.yaml"


@pytest.fixture(scope="module")
def result():
    return tmad.parse_detailed(SOURCE)


@pytest.fixture(scope="module")
def by_id(result):
    return {e.id: e for e in result.entries}


def rows_of(result, table_id):
    return [e for e in result.entries if e.kind == "table-row" and e.parent == table_id]


# --- tracked changes ----------------------------------------------------------------------

def test_utrn_period_is_336_hours_after_the_change(by_id):
    text = by_id["TMAD:2/UTRN Period"].text
    assert "336 hours" in text
    assert "48" not in text


def test_utrn_period_is_48_hours_before_the_change():
    before = {e.id: e for e in tmad.parse(SOURCE, view="before")}
    text = before["TMAD:2/UTRN Period"].text
    assert "48 hours" in text
    assert "336" not in text


def test_no_markup_or_link_artefacts_survive(result):
    for e in result.entries:
        for artefact in ("~~", "<u>", "</u>", "](#)", "<p>", "<ul", "<ol", "<table", "**"):
            assert artefact not in e.text, (e.id, artefact)
        for cell in (e.cells or {}).values():
            assert "<" not in cell or "<https" in cell, (e.id, cell)


def test_renumbered_clauses_carry_their_old_number(by_id):
    assert by_id["TMAD:4.24"].aliases == ["TMAD@5.0:4.23"]
    assert by_id["TMAD:4.48"].aliases == ["TMAD@5.0:4.47"]
    assert by_id["TMAD:4.36"].aliases == ["TMAD@5.0:4.35"]      # "~~4.35~~4.36"
    assert by_id["TMAD:4.39"].aliases == ["TMAD@5.0:4.38"]      # "[4.384.39](#)"
    assert "TMAD@5.0:4.30(a)" in by_id["TMAD:4.31(a)"].aliases
    assert by_id["TMAD:4.24"].text.startswith("The DCC shall take all reasonable steps to Migrate")
    assert "TMAD:4.23" in by_id and not by_id["TMAD:4.23"].aliases
    assert "TMAD:4.23A" in by_id and "TMAD:4.44A" in by_id


def test_catalogue_resolves_old_citations(result):
    cat = Catalogue(document="TMAD", version="5.1", source="x", source_sha256="0", entries=result.entries)
    assert cat.get("TMAD@5.0:4.23").id == "TMAD:4.24"


def test_run_together_number_only_at_clause_position():
    line = split_views("4.234.24 The DCC shall, see Clause 4.234.24 and 4.8.")
    assert line.after.startswith("4.24 The DCC") and line.before.startswith("4.23 The DCC")
    assert "Clause 4.234.24 and" in line.after            # text is never rewritten
    assert split_run_together("4.444.45").old == "4.44"
    assert split_run_together("4.234.24").new == "4.24"
    assert split_run_together("4.235.24") is None          # halves in different chapters


def test_link_artefacts():
    line = split_views("conforming to [Table 5.5](#)~~Table 5-5~~. The")
    assert line.after == "conforming to Table 5.5. The" and line.before == "conforming to Table 5-5. The"
    line = split_views("required by ~~Table 5.9~~ [Table 5.9](#) for such a file")
    assert line.after == "required by Table 5.9 for such a file"
    assert split_views(r"with Clause [\(a\)4.8\(a\)](#), the").after == "with Clause 4.8(a), the"
    assert split_views("required by Table 5.9 Table 5.9 .").after == "required by Table 5.9 ."
    assert split_views("Table 5 Table 5.9").after == "Table 5 Table 5.9"     # not a repeat


def test_resolved_garbles(by_id):
    assert "TMAD:2/Authorised DCO SMETS1 Device Credentials" in by_id
    assert "TMAD:2/Authorised S1SP SMETS1 Device Credentials" in by_id
    sua = [i for i in by_id if "Authorisation Code" in i]
    assert sua == ["TMAD:2/Single Use Authorisation Code (SUA)"]
    assert by_id[sua[0]].text.endswith("verifying Instruction.")
    assert by_id["TMAD:2/SMETS1 Migration Schema"].text == "The XML SMETS1 Migration Schema included at Clause 10."
    assert by_id["TMAD:4.23A"].text.endswith("for which the Migration has not yet commenced.")


# --- entries ---------------------------------------------------------------------------------

def test_headings(by_id):
    assert by_id["TMAD:5"].kind == "heading" and by_id["TMAD:5"].text == "5 Migration Process"
    assert by_id["TMAD:5/h/Digital Signature"].parent == "TMAD:5"
    assert by_id["TMAD:5/h/Counters"].kind == "heading"
    assert by_id["TMAD:C/h/Installing a SMETS1 Electricity Meter"].parent == "TMAD:C"
    assert by_id["TMAD:5.5"].parent == "TMAD:5/h/Digital Signature"


def test_clauses_and_subitems(by_id):
    assert by_id["TMAD:3.14D"].kind == "clause"
    assert by_id["TMAD:5.4A"].kind == "clause"
    c = by_id["TMAD:5.10"]
    assert c.text.startswith("Where all checks and processing at Clause 5.10 succeed")
    assert "(b) create a Migration Common Validation File" in c.text
    assert by_id["TMAD:5.10(a)"].parent == "TMAD:5.10" and by_id["TMAD:5.10(a)"].kind == "subclause"
    assert by_id["TMAD:5.1(a)(i)"].parent == "TMAD:5.1(a)"
    assert by_id["TMAD:3.15(e)(ii)(E)"].text.endswith("reason for the SMETS1 Loss of System Availability.")
    # text after a finished list returns to the clause, not the last item
    assert by_id["TMAD:3.14B"].text.endswith("prior to the commencement of the UTRN Period.")
    assert "is processed by" not in by_id["TMAD:3.14B(b)"].text
    # a number starting a line of text is not a clause when it does not rise
    assert "4.29 to 4.32, provide the means by which:" in by_id["TMAD:4.35"].text


def test_quoted_sec_text_stays_in_its_clause(by_id):
    assert by_id["TMAD:3.14A/G2.45"].parent == "TMAD:3.14A"
    assert by_id["TMAD:3.14A/G2.44A(d)(ii)(B)"].kind == "subclause"
    assert "G2.45 The DCC shall ensure" in by_id["TMAD:3.14A"].text
    assert by_id["TMAD:3.1(a)(k)"].text.endswith("in its capacity as such.")
    assert by_id["TMAD:3.1(e)/Commissioning Party"].kind == "definition"
    assert by_id["TMAD:3.1(e)/Commissioning Party"].parent == "TMAD:3.1(e)"
    assert by_id["TMAD:3.1(g)/Transport Layer Security"].text.startswith("means TLS 1.2")


def test_definitions(by_id, result):
    defs = [e for e in result.entries if e.kind == "definition" and e.parent == "TMAD:2"]
    assert len(defs) == 81
    assert by_id["TMAD:2/Dormant Meter"].title == "Dormant Meter"
    assert "i) the relevant SMETS1 SMSO" in by_id["TMAD:2/Dormant Meter"].text
    assert "Term" not in {e.title for e in defs}


def test_table_5_5(by_id, result):
    t = by_id["TMAD:T5.5"]
    assert t.kind == "table" and t.title == "Table 5.5"
    assert t.columns == ["Object to which signature relates", "Party Digitally Signing",
                         "Required Remote Party Role in the Certificate used to check signature"]
    assert len(rows_of(result, "TMAD:T5.5")) == 7                 # repeated header merged
    row = by_id["TMAD:T5.5/Migration Common File"]
    assert row.cells["Required Remote Party Role in the Certificate used to check signature"] \
        == "requestingPartyFileSigning"
    assert row.text == "Migration Common File | Requesting Party | requestingPartyFileSigning"


def test_table_row_counts(result):
    assert len(rows_of(result, "TMAD:T5.7")) == 6
    assert len(rows_of(result, "TMAD:T10.2")) == 6
    assert len(rows_of(result, "TMAD:T8.7.2")) == 6


def test_table_8_7_2(by_id, result):
    got = [(e.cells["Commissioning Request name"], e.cells["Service Reference"],
            e.cells["Service Reference Variant"]) for e in rows_of(result, "TMAD:T8.7.2")]
    assert got == [("Request Handover Of DCC Controlled Device", "6.21", "6.21"),
                   ("Commission Device", "8.1", "8.1.1"),
                   ("Join Service (Critical)", "8.7", "8.7.1"),
                   ("Join Service (Non-Critical)", "8.7", "8.7.2"),
                   ("Update HAN Device Log", "8.11", "8.11"),
                   ("Device Pre-notification", "12.2", "12.2")]


def test_validation_tables_are_keyed_by_response_code(by_id, result):
    assert [e.id for e in rows_of(result, "TMAD:T8.7.1")] == [
        f"TMAD:T8.7.1/{c}" for c in ("E48", "C2", "E100", "C4", "C5")]
    assert by_id["TMAD:T8.7.1/C2"].cells["Validation Check"].startswith("The Remote Party Role in the Certificate")
    assert "TMAD:T8.7.3/C062196" in by_id


def test_step_tables(by_id, result):
    steps = [e.number for e in rows_of(result, "TMAD:T5.9") if e.number]
    assert steps == [f"5.9.{n}" for n in range(1, 11)]
    steps = [e.number for e in rows_of(result, "TMAD:T5.10") if e.number]
    assert steps == [f"5.10.{n}" for n in range(1, 19)]
    assert by_id["TMAD:T5.10/5.10.4"].cells["StepNumber"] == "5.10.4"
    assert by_id["TMAD:T5.9/preamble"].text == ("Should any of the following checks fail, the Authenticator "
                                                "shall cease processing that file, discard it and raise an Incident.")
    assert "TMAD:T12.9/12.9.1.X#2" in by_id                        # printed twice (defect 6)


def test_page_break_continuation_and_nested_table(by_id, result):
    et07 = by_id["TMAD:TA2/ET07"]
    assert et07.lines == (1551, 1555)
    assert "14. set PrepayFlag attribute as true" in et07.cells["S1SP checks and processing"]
    sig = by_id["TMAD:T10.1/Signature"]
    info = sig.cells["Information"]
    assert info.count("ecdsa-sha256") == 1                          # one readable copy
    assert "SignatureMethod Algorithm | http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" in info
    assert "TMAD:T10.1/Reference URI" not in by_id
    assert "TMAD:T10.1/CriticalSupplierCertificateID" in by_id      # key without the colon


def test_uncaptioned_tables_belong_to_their_clause(by_id):
    assert by_id["TMAD:3.16/T"].parent == "TMAD:3.16"
    assert by_id["TMAD:3.16/T/s1SPMigrationSigning"].cells["DCC Live Systems definition paragraph"] == "(h)"
    assert by_id["TMAD:3.15(e)(i)/T/Recovery Time Objective"].cells["Target Service level"] == "4 hours"


def test_every_table_caption_is_a_table(result):
    captions = set()
    for line in SOURCE.read_text(encoding="utf-8").split("\n"):
        for number in re.findall(r"^(?:~~[^~]*~~)?Table ([A-Z]?\d+(?:\.\d+)*[A-Z]?)(?:\*\*|$)", line):
            captions.add(number)
    tables = {e.number for e in result.entries if e.kind == "table" and e.number}
    assert len(captions) == 43 and captions <= tables


# --- integrity -------------------------------------------------------------------------------

def test_ids_unique_and_kinds_known(result):
    ids = [e.id for e in result.entries]
    assert len(ids) == len(set(ids))
    assert all(e.id.startswith("TMAD:") for e in result.entries)


def test_parents_exist(result, by_id):
    for e in result.entries:
        assert e.parent is None or e.parent in by_id, e.id


def test_fingerprints(result):
    for e in result.entries:
        assert e.fingerprint == hashlib.sha256(normalise(e.text).encode("utf-8")).hexdigest()


def test_parsing_twice_gives_identical_output():
    first = [e.to_dict() for e in tmad.parse(SOURCE)]
    second = [e.to_dict() for e in tmad.parse(SOURCE)]
    assert first == second


def test_coverage_no_text_lost(result, capsys):
    """Every non-blank line of the after view fed an entry or is a classified artefact,
    and every piece of text taken from a line is in the entry it was given to."""
    by_id = {e.id: e for e in result.entries}
    unclassified = [n for n, text in result.view_lines.items() if text.strip() and n not in result.roles]
    assert unclassified == []
    for line, fragment, entry_id in result.fragments:
        if entry_id == "(title)":
            continue
        assert normalise(fragment) in by_id[entry_id].text, (line, fragment[:60], entry_id)
    roles = Counter(r.split(":")[0] for rs in result.roles.values() for r in rs)
    kinds = Counter(e.kind for e in result.entries)
    counted = sum(kinds[k] for k in ("clause", "subclause", "definition", "table-row"))
    with capsys.disabled():
        print(f"\nTMAD 5.1 catalogue: {dict(sorted(kinds.items()))}, counted={counted}")
        print(f"line roles: {dict(sorted(roles.items()))}")
    assert kinds["clause"] >= 250 and kinds["table-row"] >= 300 and kinds["definition"] >= 96
    # the only artefacts not fed to an entry: layout, never wording
    assert set(roles) <= {"entry", "caption", "header", "header-repeat", "rule", "front-matter",
                          "nested-table-copy", "duplicate-of"}


def test_before_view_parses_with_the_same_structure():
    before = {e.id: e for e in tmad.parse(SOURCE, view="before")}
    # v5.0's 4.23 is today's 4.24: the new 4.23 and 4.23A are marked inserted by resolutions
    assert before["TMAD:4.23"].aliases == ["TMAD@5.1:4.24"]
    assert before["TMAD:4.23"].text.startswith("The DCC shall take all reasonable steps to Migrate")
    assert "TMAD:4.23#2" not in before and "TMAD:4.23A" not in before
    assert "TMAD:4.44A" not in before                                 # resolution marks it new
    # 3.7: only the struck v5.0 text, not merged with its unmarked replacement
    assert before["TMAD:3.7"].text.startswith("The DCC shall not add") and "correct for such" not in before["TMAD:3.7"].text
    assert before["TMAD:5.5"].text.count("Table 5-5") == 2
    assert before["TMAD:2/Relevant Device"].text.startswith("Relevant Device means a SMETS1 Device")


# --- failures name the line --------------------------------------------------------------------

def _copy(tmp_path: Path, old: str, new: str) -> Path:
    text = SOURCE.read_text(encoding="utf-8")
    assert text.count(old) == 1
    target = tmp_path / SOURCE.name
    target.write_text(text.replace(old, new), encoding="utf-8")
    return target


def test_resolution_that_no_longer_matches_fails(tmp_path):
    copy = _copy(tmp_path, "48<u>336</u> hours", "48 <u>336</u> hours")
    with pytest.raises(InputError) as err:
        tmad.parse(copy, resolutions=RESOLUTIONS)
    assert err.value.line == 117
    assert "utrn-period-duration" in str(err.value) and ":117" in str(err.value)


def test_resolution_found_at_another_line_fails(tmp_path):
    copy = _copy(tmp_path, "Version: AL **35.1**\n", "Version: AL **35.1**\n\n")
    with pytest.raises(InputError) as err:
        tmad.parse(copy, resolutions=RESOLUTIONS)
    assert "not at the reviewed line" in str(err.value)


def test_unbalanced_markup_names_the_line(tmp_path):
    copy = _copy(tmp_path, "- 5.16 When the DCO", "- 5.16 When ~~the DCO")
    shutil.copy(RESOLUTIONS, tmp_path / "res.yaml")
    with pytest.raises(InputError) as err:
        tmad.parse(copy, resolutions=tmp_path / "res.yaml")
    assert err.value.line == 696 and "unbalanced" in str(err.value)


def test_caption_without_table_names_the_line(tmp_path):
    copy = _copy(tmp_path, "Table 4.38\n", "Table 4.38\n\nTable 4.38\n")
    bad = tmp_path / "res.yaml"
    # the extra line moves every later resolution: check the structural error, not those
    bad.write_text("resolutions: []\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        tmad.parse(copy, resolutions=bad)
    assert err.value.line == 524 and "does not follow a table" in str(err.value)


def test_unknown_view_is_rejected():
    with pytest.raises(InputError):
        tmad.parse(SOURCE, view="sideways")


# --- the resolutions file and the written catalogue -------------------------------------------

def test_resolutions_file_is_complete():
    data = yaml.safe_load(RESOLUTIONS.read_text(encoding="utf-8"))
    for item in data["resolutions"]:
        assert item["evidence"] and all(e["quote"] and e["location"] for e in item["evidence"]), item["id"]
        assert item["where"]["line"] and item["reason"]
    for item in data["disputed"]:
        assert item["readings"] and item["where"], item["id"]


def test_ingest_to_file_writes_a_loadable_catalogue(tmp_path):
    out = tmp_path / "TMAD" / "5.1.yaml"
    cat = tmad.ingest_to_file(SOURCE, out, "5.1", "after")
    loaded = Catalogue.from_dict(yaml.safe_load(out.read_text(encoding="utf-8")))
    assert [e.to_dict() for e in loaded.entries] == [e.to_dict() for e in cat.entries]
    assert loaded.source == "spec/sources/TMAD-AL-5.1-consultation-marked.md"
    assert loaded.source_sha256 == hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert [p.name for p in out.parent.iterdir()] == ["5.1.yaml"]      # no temp file left


def test_committed_catalogue_is_current():
    assert CATALOGUE.read_text(encoding="utf-8") == tmad.build_catalogue(SOURCE).dump()
