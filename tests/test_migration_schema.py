"""The SMETS1 Migration Schema (spec/schemas/smets1-migration.xsd) and tmadkit.xml.schema.

Instances live in tests/data/migration/; the first comment of each says what to expect
(see spec/schemas/README.md "Test data").  Every instance is checked with both validators:
lxml / libxml2 (tmadkit.xml.schema.validate, the hot path) and xmlschema (pure Python).
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from lxml import etree

from tmadkit.xml import schema as S

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "migration"
SCHEMAS = ROOT / "spec" / "schemas"
XSD = SCHEMAS / "smets1-migration.xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
HEADER = re.compile(r"<!--\s*tmadkit-test:\s*(.*?)\s*-->")


def expectation(path: Path) -> dict[str, str]:
    m = HEADER.search(path.read_text(encoding="utf-8"))
    assert m, f"{path.name}: no 'tmadkit-test:' header comment"
    return dict(part.split("=", 1) for part in m.group(1).split())


CASES = sorted(DATA.glob("*.xml"))
VALID = [p for p in CASES if expectation(p)["expect"] == "valid"]
INVALID = [p for p in CASES if expectation(p)["expect"] == "invalid"]


def ids(paths):
    return [p.name for p in paths]


def tree(path: Path) -> etree._ElementTree:
    return etree.parse(str(path))


def names_in_lxml_error(err: S.SchemaError) -> str:
    return " ".join(filter(None, [err.element, err.attribute, *err.expected, err.message, err.path]))


def names_in_xmlschema_error(err) -> str:
    elem = getattr(err, "elem", None)
    tag = elem.tag if elem is not None and isinstance(getattr(elem, "tag", None), str) else ""
    return " ".join(filter(None, [err.reason, err.path, tag]))


def local(name: str) -> str:
    return name.split(":", 1)[-1]


# --------------------------------------------------------------------------- loading

def test_schema_files_exist_and_dsig_copy_has_no_doctype():
    assert XSD.is_file() and (SCHEMAS / "xmldsig-core-schema.xsd").is_file()
    dsig = (SCHEMAS / "xmldsig-core-schema.xsd").read_text(encoding="utf-8")
    # The W3C DOCTYPE is present only inside a comment (the xmlschema package's copy).
    active = re.sub(r"<!--.*?-->", "", dsig, flags=re.S)
    assert "<!DOCTYPE" not in active and "<!ENTITY" not in active
    assert "W3C Software License" in dsig and "Copyright 2001 The Internet Society and W3C" in dsig


@pytest.mark.parametrize("unsigned", [False, True])
def test_schema_loads_in_lxml_and_xmlschema(unsigned):
    assert isinstance(S.load_schema(unsigned=unsigned), etree.XMLSchema)
    assert S.load_schema(unsigned=unsigned) is S.load_schema(unsigned=unsigned)   # cached
    xs = S.xmlschema_schema(unsigned=unsigned)
    assert xs.target_namespace == S.NAMESPACE
    assert S.xmlschema_schema(unsigned=unsigned) is xs


def test_schema_is_located_through_paths_spec_dir():
    from tmadkit import paths
    assert S.schema_path() == paths.spec_dir() / "schemas" / "smets1-migration.xsd"
    assert S.schema_path().resolve() == XSD.resolve()


def test_only_the_seven_structures_are_global_elements():
    """P4: nothing but a Table 10.2 structure or DecryptedS1SPGroupInformation can be a root."""
    xsd = etree.parse(str(XSD)).getroot()
    globals_ = {e.get("name") for e in xsd.findall(f"{XS}element")}
    assert globals_ == {q.localname for q in S.STRUCTURES.values()}
    assert set(S.xmlschema_schema().elements) == globals_


def test_root_elements_map_the_six_file_types():
    assert set(S.ROOT_ELEMENTS) == {"MCF", "MGF", "MEF", "MVF", "SCF", "COF"}
    assert {k: q.localname for k, q in S.ROOT_ELEMENTS.items()} == {
        "MCF": "MigrationCommon", "MGF": "MigrationGroup", "MEF": "MigrationGroupEncrypted",
        "MVF": "MigrationValidation", "SCF": "S1SPOutcomes", "COF": "CommissioningOutcomes"}
    assert all(q.namespace == S.NAMESPACE for q in S.ROOT_ELEMENTS.values())


def test_signature_is_required_last_child_of_exactly_the_six_signed_structures():
    """D11 / Table 5.5: all six file types are signed; the decrypted plaintext is not."""
    xsd = etree.parse(str(XSD)).getroot()
    refs = [e for e in xsd.iter(f"{XS}element") if e.get("ref") == "ds:Signature"]
    assert len(refs) == 6
    for ref in refs:
        assert ref.get("minOccurs", "1") == "1"
        assert ref.getnext() is None, "ds:Signature must be the last particle"
    owners = {ref.getparent().getparent().getparent().getparent().get("name") for ref in refs}
    assert owners == {"MigrationCommonType", "MigrationGroupType", "MigrationGroupEncryptedType",
                      "MigrationValidationType", "S1SPOutcomesType", "CommissioningOutcomesType"}


# --------------------------------------------------------------------------- instances

def test_every_structure_has_a_valid_instance():
    roots = {etree.QName(tree(p).getroot()).localname for p in VALID}
    assert roots == {q.localname for q in S.STRUCTURES.values()}
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_valid_instance_validates_in_both(path):
    problems = S.validate(path)
    assert problems == [], "\n".join(map(str, problems))
    assert S.xmlschema_schema().is_valid(tree(path))
    ft = S.file_type_of(tree(path))
    assert S.validate(path, file_type=ft) == []
    assert S.explain(path) == []


@pytest.mark.parametrize("path", INVALID, ids=ids(INVALID))
def test_invalid_instance_fails_in_both_naming_the_element(path):
    want = local(expectation(path)["element"])
    problems = [p for p in S.validate(path) if p.severity == "error"]
    assert problems, f"{path.name} validated"
    assert any(want in names_in_lxml_error(p) for p in problems), \
        f"{want} not named by lxml: " + "\n".join(map(str, problems))
    for p in problems:
        assert p.line and p.line > 0 and p.path and p.path.startswith("/")
    xs_errors = list(S.xmlschema_schema().iter_errors(tree(path)))
    assert xs_errors, f"{path.name} valid for xmlschema"
    assert any(want in names_in_xmlschema_error(e) for e in xs_errors), \
        f"{want} not named by xmlschema: " + "\n".join(str(e.reason) for e in xs_errors)
    assert S.explain(path)


@pytest.mark.parametrize("path", [p for p in INVALID if expectation(p).get("unsigned") == "valid"],
                         ids=ids([p for p in INVALID if expectation(p).get("unsigned") == "valid"]))
def test_unsigned_profile_accepts_documents_without_signature(path):
    assert S.validate(path, unsigned=True) == []
    assert S.xmlschema_schema(unsigned=True).is_valid(tree(path))


@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_removing_the_signature_fails_signed_profile_only(path):
    t = tree(path)
    sig = t.getroot().find(f"{DS}Signature")
    if sig is None:
        assert t.getroot().tag == S.DECRYPTED_ROOT.text
        return
    sig.getparent().remove(sig)
    errors = S.validate(t)
    assert errors and any("ds:Signature" in e.expected or "Signature" in e.message for e in errors)
    assert S.validate(t, unsigned=True) == []
    assert not S.xmlschema_schema().is_valid(t)
    assert S.xmlschema_schema(unsigned=True).is_valid(t)


def test_unsigned_profile_relaxes_nothing_but_the_signature():
    other = [p for p in INVALID if "unsigned" not in expectation(p)]
    for path in other:
        assert [e for e in S.validate(path, unsigned=True) if e.severity == "error"], path.name


# --------------------------------------------------------------------------- D1 aliases

ALIAS_CASES = [p for p in INVALID if expectation(p).get("aliases") == "valid"]


def test_counter_spelling_decision_matches_readme_and_schema():
    """D1: xCounter in the schema; the TMAD's xCCounter spellings are aliases only."""
    xsd_names = {e.get("name") for e in etree.parse(str(XSD)).iter(f"{XS}element")}
    assert {"MCFCounter", "MGFCounter", "MEFCounter", "MVFCounter", "SCFCounter",
            "COFCounter"} <= xsd_names
    assert not xsd_names & set(S.COUNTER_ALIASES)
    assert set(S.COUNTER_ALIASES.values()) <= xsd_names
    assert "COFCCounter" not in S.COUNTER_ALIASES          # the TMAD never writes it
    readme = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    d1 = next(line for line in readme.splitlines() if line.startswith("| D1 "))
    for alias, canonical in S.COUNTER_ALIASES.items():
        assert alias in d1 and canonical in d1
    assert {local(expectation(p)["element"]) for p in ALIAS_CASES} >= {"MCFCCounter", "MVFCCounter"}


@pytest.mark.parametrize("path", ALIAS_CASES, ids=ids(ALIAS_CASES))
def test_counter_alias_refused_strictly_accepted_with_warning(path):
    alias = local(expectation(path)["element"])
    strict = S.validate(path)
    assert any(e.element == alias and e.severity == "error" for e in strict)
    assert not S.xmlschema_schema().is_valid(tree(path))
    lenient = S.validate(path, accept_aliases=True)
    assert [e.severity for e in lenient] == ["warning"]
    (w,) = lenient
    assert w.kind == "alias" and w.element == alias and S.COUNTER_ALIASES[alias] in w.message
    assert w.line and w.path.endswith("/" + alias)
    assert S.is_valid(path, accept_aliases=True) and not S.is_valid(path)


def test_alias_mode_never_changes_the_callers_tree():
    t = tree(DATA / "mcf-alias-mcfccounter.xml")
    before = etree.tostring(t)
    assert S.is_valid(t, accept_aliases=True)
    assert etree.tostring(t) == before


def test_canonical_counter_in_the_wrong_file_is_not_rescued_by_aliases():
    t = tree(DATA / "mgf-valid.xml")
    counter = t.getroot().find(f"{{{S.NAMESPACE}}}MGFCounter")
    counter.tag = f"{{{S.NAMESPACE}}}MEFCCounter"
    errors = S.validate(t, accept_aliases=True)
    assert any(e.severity == "error" and e.element == "MEFCounter" for e in errors)


# --------------------------------------------------------------------------- API details

def test_file_type_mismatch_is_a_root_error():
    errors = S.validate(DATA / "mgf-valid.xml", file_type="MCF")
    assert [e.kind for e in errors] == ["root"]
    assert errors[0].element == "MigrationGroup" and errors[0].expected == ("MigrationCommon",)
    assert S.validate(DATA / "decrypted-valid.xml", file_type="MEF")[0].kind == "root"
    assert S.validate(DATA / "decrypted-valid.xml", file_type=S.DECRYPTED) == []
    with pytest.raises(ValueError):
        S.validate(DATA / "mgf-valid.xml", file_type="XYZ")


def test_namespace_hint_for_right_name_wrong_namespace():
    (err,) = S.validate(DATA / "invalid-no-namespace.xml")
    assert err.kind == "root" and S.NAMESPACE in err.message and "D15" in err.message


def test_error_carries_line_and_element_path():
    path = DATA / "mcf-invalid-mpan-12.xml"
    t = tree(path)
    mpan = t.getroot().find(f".//{{{S.NAMESPACE}}}ImportMPAN")
    (err,) = S.validate(path)
    assert err.line == mpan.sourceline
    assert err.path == "/MigrationCommon/SMETS1Installation/ESMEDetail/ImportMPAN"   # one entry: no index
    assert err.element == "ImportMPAN" and err.file == str(path)
    assert "{" not in err.message and "13" in err.message
    assert str(err).startswith(f"{path}:{mpan.sourceline}: /MigrationCommon/")
    (dup,) = S.validate(DATA / "mcf-invalid-duplicate-chf.xml")
    assert dup.path == "/MigrationCommon/SMETS1Installation[2]"


def test_validate_accepts_trees_elements_bytes_and_paths():
    path = DATA / "scf-valid.xml"
    data = path.read_bytes()
    t = tree(path)
    assert S.validate(path) == S.validate(str(path)) == S.validate(data) == []
    assert S.validate(t) == S.validate(t.getroot()) == []
    with pytest.raises(TypeError):
        S.validate(12)


@pytest.mark.parametrize("data, kind", [
    (b'<!DOCTYPE MigrationCommon [<!ENTITY x "y">]><MigrationCommon/>', "doctype"),
    (b"<MigrationCommon", "truncated"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><MigrationCommon/>', "encoding"),
])
def test_hostile_or_broken_input_is_reported_not_raised(data, kind):
    (err,) = S.validate(data)
    assert err.kind == kind and err.severity == "error"


def test_max_errors_caps_the_list():
    t = tree(DATA / "mcf-valid.xml")
    for dev in t.getroot().iter(f"{{{S.NAMESPACE}}}DeviceID"):
        dev.text = "not-an-eui"
    errors = S.validate(t, max_errors=3)
    assert len(errors) == 4 and "further schema errors" in errors[-1].message


def test_concurrent_validation_keeps_errors_apart():
    good, bad = DATA / "mcf-valid.xml", DATA / "mcf-invalid-mpan-12.xml"
    good_t, bad_t = tree(good), tree(bad)
    results: list[tuple[bool, list]] = []

    def work(i):
        t, is_good = (good_t, True) if i % 2 else (bad_t, False)
        for _ in range(20):
            results.append((is_good, S.validate(t)))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 160
    for is_good, errs in results:
        assert (errs == []) if is_good else [e.element for e in errs] == ["ImportMPAN"]


# --------------------------------------------------------------------------- modelling

def _mcf() -> etree._ElementTree:
    return tree(DATA / "mcf-valid.xml")


def _n(local_name: str) -> str:
    return f"{{{S.NAMESPACE}}}{local_name}"


def test_optional_devices_may_be_absent():
    """D17: GSME, PPMID, IHD, CAD 'if present'; CHF, GPF, ESME always."""
    t = _mcf()
    inst = t.getroot().find(_n("SMETS1Installation"))
    for name in ("GSMEDetail", "PPMIDDetail", "IHDDetail", "CADDetail"):
        inst.remove(inst.find(_n(name)))
        assert S.validate(t) == [], name
    inst.remove(inst.find(_n("ESMEDetail")))
    assert [e.element for e in S.validate(t)] == ["SMETS1Installation"]


def test_null_certificate_id_is_schema_valid_and_device_type_not_fixed():
    """D19: Null Certificate ID is a value, checked by rules.  D20: 5.10.18 stays reachable."""
    t = _mcf()
    ihd_type = t.getroot().find(f".//{_n('IHDDetail')}/{_n('DeviceDetail')}/{_n('DeviceType')}")
    ihd_type.text = "ESME"                       # wrong, but only 5.10.18 may say so
    assert S.validate(t) == []
    ihd_type.text = "TOASTER"
    assert [e.element for e in S.validate(t)] == ["DeviceType"]


def test_per_installation_checks_remain_reachable():
    """P2: empty SUAKeyDetails children (16.7.5) and missing MGF CHF details (12.6.1) are
    schema-valid, so those checks fail one installation, not the file."""
    mef = tree(DATA / "mef-valid-da.xml")
    for child in mef.getroot().iter(_n("SerialNumber"), _n("EncryptedSUAKey"), _n("DeviceType"),
                                    _n("PublicKey")):
        child.text = ""
    assert S.validate(mef) == []
    mgf = tree(DATA / "mgf-valid.xml")
    for detail in mgf.getroot().iter(_n("CHFDetail")):
        for child in list(detail):
            detail.remove(child)
    assert S.validate(mgf) == []


def test_readme_lists_every_decision_the_schema_cites():
    readme = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    decided = set(re.findall(r"^\| (D\d+) \|", readme, flags=re.M))
    cited = set(re.findall(r"README D(\d+)", XSD.read_text(encoding="utf-8")))
    cited |= set(re.findall(r"README D(\d+)", "".join(p.read_text() for p in CASES)))
    assert {f"D{n}" for n in cited} <= decided
    for defect in ("#1", "#16", "#17", "#18", "#21"):
        assert f"| {defect} " in readme


def test_a_schema_error_names_the_column_where_one_is_known():
    # Refused by the hardened parser, which knows the column: the place reads as the parser's does
    (err,) = S.validate(b'<?xml version="1.1"?><MigrationCommon/>')
    assert err.column == 16 and str(err).startswith("line 1 at column 16: "), str(err)
