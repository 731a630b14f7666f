"""`tmadkit make-file`: built migration files are schema-valid, signed in the TMAD profile
(checked by tmadkit and by the xmlsec1 command), named as the Table 10.2 rules require,
and every tamper operation is rejected exactly where its description says.

Nothing is mocked: real test PKIs (`pki.init`), lxml/libxml2, python-xmlsec, xmlsec1.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from tmadkit import cli, registry
from tmadkit.authentication.received import ReceivedFile
from tmadkit.errors import InputError
from tmadkit.files import build as B
from tmadkit.files.build import build
from tmadkit.files.tamper import RESIGN_OPS, TAMPER_OPS, resign_with, signer_of, tamper
from tmadkit.runtime import files as file_primitives
from tmadkit.smki import pki as pki_mod
from tmadkit.smki import roles
from tmadkit.smki.registry import Registry
from tmadkit.xml import safe, schema
from tmadkit.xml import signature as S
from tmadkit.xml.safe import XMLInputError

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
NS = {"m": schema.NAMESPACE, "ds": S.DSIG_NS}

SPECS = {
    "MCF": {"type": "MCF", "MCFCounter": 41, "group_id": "DA", "installations": 4},
    "MGF": {"type": "MGF", "MCFCounter": 41, "MGFCounter": 6, "group_id": "CA", "installations": 4},
    "MEF": {"type": "MEF", "MCFCounter": 41, "MEFCounter": 7, "installations": 4},
    "MVF": {"type": "MVF", "MCFCounter": 41, "MVFCounter": 5, "installations": [
        None, {"failed_checks": [{"step": "5.10.4", "supporting_data": {"device_id": "00-DB-12-00-00-00-01-A2"}},
                                 {"step": "5.10.8", "supporting_data": {"certificate_pair": ["supplier-ds", "supplier-ka"]}}]},
        None, None]},
    "SCF": {"type": "SCF", "supplier_signifier": "EDFE", "MCFCounter": 41, "SCFCounter": 12, "installations": [
        {"prepay": True}, {"failed_checks": [{"step": "12.9.1.ET04",
                                              "supporting_data": [{"device_id": "00-DB-12-00-00-00-02-A2"},
                                                                  "ManagementAssociation"]}]},
        None, None]},
    "COF": {"type": "COF", "supplier_signifier": "EDFE", "MCFCounter": 41, "COFCounter": 9, "installations": 4},
}
NAMING_RULE = {"MCF": "TMAD-T10.2-MCF", "MGF": "TMAD-T10.2-MGF", "MEF": "TMAD-T10.2-MEF",
               "MVF": "TMAD-T10.2-MVF", "SCF": "TMAD-T10.2-SCF", "COF": "TMAD-T10.2-COF"}

XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.skipif(
    XMLSEC1 is None, reason="xmlsec1 command-line tool not installed (Debian package xmlsec1)")
# As in test_signature_profile.py: key-name only, so xmlsec1 ignores KeyInfo's X509Data and
# uses the certificate given; only URI="" references.
XMLSEC1_VERIFY = ["--verify", "--enabled-key-data", "key-name", "--enabled-reference-uris", "empty"]


def xmlsec1_verify(tmp_path: Path, content: bytes, cert_pem: Path) -> subprocess.CompletedProcess:
    f = tmp_path / f"verify-{hashlib.sha256(content).hexdigest()[:12]}.xml"
    f.write_bytes(content)
    return subprocess.run([XMLSEC1, *XMLSEC1_VERIFY, "--pubkey-cert-pem", str(cert_pem), str(f)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def shared_pki(tmp_path_factory):
    return pki_mod.init(tmp_path_factory.mktemp("builder") / "pki", now=NOW)


@pytest.fixture(scope="module")
def built(shared_pki):
    return {t: build(spec, shared_pki, now=NOW) for t, spec in SPECS.items()}


def certificate(p: pki_mod.Pki, entry: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(p.entry(entry).certificate.read_bytes())


def naming_facts_from_file(b: B.BuiltFile, spec: dict) -> dict:
    """Facts as an Authenticator reads them from the received file, plus what is not in the
    file (the Supplier Signifier of the route or of the SCF a COF answers)."""
    received = ReceivedFile(b.name, b.content)
    facts = {"file_type": received.file_type, "file_name": received.name,
             "root_element": received.root_element, "header": received.header}
    sig = spec.get("supplier_signifier")
    if sig is not None:
        key = {"MCF": "route", "COF": "related"}.get(spec["type"])
        if key is None:
            facts["supplier_signifier"] = sig
        else:
            facts[key] = {"supplier_signifier" if key == "route" else "scf_supplier_signifier": sig}
    return facts


# --------------------------------------------------------------------------- the six types

@pytest.mark.parametrize("file_type", list(SPECS))
def test_each_type_is_valid_signed_and_named(tmp_path, file_type):
    p = pki_mod.init(tmp_path / "pki", now=NOW)
    spec = SPECS[file_type]
    b = build(spec, p, now=NOW)
    assert b.file_type == file_type

    # Schema: signed profile, and the root is the Table 10.2 structure for the type.
    tree = safe.parse_bytes(b.content)
    assert schema.validate(tree, file_type=file_type) == []
    assert etree.QName(tree.getroot()) == schema.ROOT_ELEMENTS[file_type]

    # Table 5.5 signer, and the signature verifies with tmadkit.
    entry = p.entry(b.signer)
    assert entry.role == roles.SIGNING_ROLE_FOR[B.TMAD_NAMES[file_type]] and entry.negative is None
    cert = certificate(p, b.signer)
    verified = S.verify(b.content, cert)
    assert S.lookup(verified.issuer_name, verified.serial,
                    [certificate(p, e.name) for e in p.entries]) == cert

    # The name is what the generated Table 10.2 check accepts, from the file's own content.
    facts = naming_facts_from_file(b, spec)
    verdict = registry.check(NAMING_RULE[file_type])(facts)
    assert verdict.status == "pass", verdict.detail
    assert b.naming_rule == NAMING_RULE[file_type]
    # ...and the check really looks: another counter in the name fails.
    wrong = {**facts, "file_name": b.name.replace("_41_", "_42_")}
    assert registry.check(NAMING_RULE[file_type])(wrong).status == "fail"

    # DeviceIDs unique in the file (CHFIdentifier in the types that list installations by CHF).
    ids = [el.text for el in tree.iterfind(".//m:DeviceID", NS) if el.getparent().tag != f"{{{schema.NAMESPACE}}}SupportingData"]
    ids += [el.text for el in tree.iterfind(".//m:CHFIdentifier", NS)]
    if file_type == "MEF":       # EncryptedMasterKey repeats the installation's device IDs
        ids = [el.text for el in tree.iterfind(".//m:CHFIdentifier", NS)]
    assert ids and len(ids) == len(set(ids))


@needs_xmlsec1
@pytest.mark.parametrize("file_type", list(SPECS))
def test_each_type_verifies_in_xmlsec1(tmp_path, built, shared_pki, file_type):
    b = built[file_type]
    cert_pem = shared_pki.entry(b.signer).certificate
    ok = xmlsec1_verify(tmp_path, b.content, cert_pem)
    assert ok.returncode == 0 and "OK" in ok.stderr, ok.stderr
    bad = xmlsec1_verify(tmp_path, tamper(b.content, "flip-digest-byte"), cert_pem)
    assert bad.returncode != 0


def test_mcf_installations_reference_pki_certificates(built, shared_pki):
    tree = safe.parse_bytes(built["MCF"].content)
    by_id = {(e.cert_id.issuer_string, str(e.cert_id.serial)): e for e in shared_pki.entries}
    seen = 0
    for slot, element in B.SLOT_ELEMENT.items():
        for el in tree.iterfind(f".//m:{element}/m:X509IssuerSerial", NS):
            issuer, serial = el.findtext("ds:X509IssuerName", namespaces=NS), el.findtext("ds:X509SerialNumber", namespaces=NS)
            if (issuer, serial) == ("NULL", "0"):
                continue
            e = by_id[(issuer, serial)]
            # Critical = digitalSignature, Non-Critical = keyAgreement (TMAD Clause 2).
            assert e.usage == ("keyAgreement" if slot.startswith("non_critical") else "digitalSignature")
            assert e.role == (roles.SUPPLIER if slot.endswith("supplier") else roles.NETWORK_OPERATOR)
            seen += 1
    assert seen
    # A GPF in an installation without a GSME carries the Null Certificate ID (Table 10.1).
    for inst in tree.iterfind("m:SMETS1Installation", NS):
        if inst.find("m:GSMEDetail", NS) is None:
            names = [t.text for t in inst.iterfind("m:GPFDetail//ds:X509IssuerName", NS)]
            assert names == ["NULL"] * 4


def test_mpans_carry_a_valid_check_digit(built):
    tree = safe.parse_bytes(built["MCF"].content)
    mpans = [el.text for el in tree.iterfind(".//m:ImportMPAN", NS)]
    assert mpans and all(len(m) == 13 and m.isdigit() and B.mpan_check_digit(m[:12]) == m[12] for m in mpans)
    assert B.mpan_check_digit("120002330596") == "7"     # the hand-written mcf-valid.xml MPAN


def test_same_seed_same_installations_in_every_type(built):
    chfs = {}
    for t, b in built.items():
        tree = safe.parse_bytes(b.content)
        path = "m:SMETS1Installation/m:CHFDetail/m:DeviceID" if t == "MCF" else "m:SMETS1Installation/m:CHFIdentifier"
        chfs[t] = [el.text for el in tree.iterfind(path, NS)]
    assert len({tuple(v) for v in chfs.values()}) == 1 and len(chfs["MCF"]) == 4


def test_deterministic_before_signing(shared_pki):
    spec = {"type": "MCF", "installations": 20, "seed": "team-a"}
    a, b = build(spec, shared_pki), build(dict(spec), shared_pki)
    assert a.unsigned == b.unsigned
    assert a.content != b.content                    # ECDSA is randomised
    # The signed file is the unsigned one plus the signature, nothing else.
    tree = safe.parse_bytes(a.content)
    sig = tree.getroot().find("ds:Signature", NS)
    tree.getroot().remove(sig)
    c14n = lambda t: etree.tostring(t, method="c14n")  # noqa: E731
    assert c14n(tree) == c14n(safe.parse_bytes(a.unsigned))
    other = build({**spec, "seed": "team-b"}, shared_pki)
    assert other.unsigned != a.unsigned


def test_overrides_and_supplier_variant(shared_pki):
    spec = {"type": "MCF", "supplier_signifier": "EDFE", "to_be_commissioned_by_dcc": False,
            "installations": [
                {"esme": {"device_id": "00-db-12-34-56-78-90-a2", "mpan": "1200023305967", "variant": None},
                 "gsme": {"mprn": 1234567890}, "ppmid": True, "cad": False,
                 "certificates": {"critical_supplier": "supplier-b-ds", "non_critical_supplier": "supplier-b-ka"}},
                None]}
    b = build(spec, shared_pki)
    assert b.naming_rule == "TMAD-T10.2-MCF-supplier" and b.name.startswith("MCF_EDFE_")
    facts = naming_facts_from_file(b, spec)
    assert registry.check("TMAD-T10.2-MCF-supplier")(facts).status == "pass"
    assert registry.check("TMAD-T10.2-MCF")(facts).status == "not_applicable"
    tree = safe.parse_bytes(b.content)
    first = tree.getroot().find("m:SMETS1Installation", NS)
    esme = first.find("m:ESMEDetail", NS)
    assert esme.findtext("m:DeviceID", namespaces=NS) == "00-DB-12-34-56-78-90-A2"
    assert esme.find("m:ESMEVariant", NS) is None
    assert first.find("m:PPMIDDetail", NS) is not None and first.find("m:CADDetail", NS) is None
    serial = esme.findtext("m:CriticalSupplierCertificateID//ds:X509SerialNumber", namespaces=NS)
    assert serial == str(shared_pki.entry("supplier-b-ds").cert_id.serial)
    assert tree.getroot().findtext("m:ToBeCommissionedByDCC", namespaces=NS) == "false"


def test_mef_groups_and_scf_prepay(shared_pki):
    da = safe.parse_bytes(build({"type": "MEF", "group_id": "DA", "installations": [{"gsme": True}]},
                                shared_pki).content)
    assert [el.text for el in da.iterfind(".//m:SUAKeyDetails/m:DeviceType", NS)] == ["ESME", "GSME"]
    assert da.find(".//m:EncryptedS1SPGroupInformation", NS) is None
    aa = safe.parse_bytes(build({"type": "MEF", "installations": [{"ppmid": True}]}, shared_pki).content)
    assert aa.find(".//m:SUAKeyDetails", NS) is None
    assert len(aa.findall(".//m:MasterKeyInformation/m:EncryptedMasterKey", NS)) == 2   # + PPMID's own
    scf = safe.parse_bytes(build(SPECS["SCF"], shared_pki).content)
    first = scf.getroot().find("m:SMETS1Installation", NS)
    assert first.get("PrepayFlag") == "true"
    sd = scf.getroot().find(".//m:SupportingData", NS)
    assert sd.text is None and sd[0].tail == "ManagementAssociation"   # mixed content kept exact


def test_defaults_signer_and_explicit_negative_signer(shared_pki):
    assert build({"type": "MVF"}, shared_pki).signer == "s1sp-migration-signing"
    assert build({"type": "COF"}, shared_pki).signer == "commissioning-party-file-signing"
    b = build({"type": "MCF", "signer": "requesting-party-file-signing-expired"}, shared_pki)
    assert b.signer == "requesting-party-file-signing-expired"
    S.verify(b.content, certificate(shared_pki, b.signer))       # signs; validity is 5.9.4's job
    with pytest.raises(InputError, match="no certificate valid at"):
        build({"type": "MCF"}, shared_pki, now=datetime(2040, 1, 1, tzinfo=timezone.utc))


def test_explicit_name(shared_pki):
    assert build({"type": "MGF", "name": "mgf-wrong-name.xml"}, shared_pki).name == "mgf-wrong-name.xml"
    with pytest.raises(InputError, match="plain file name"):
        build({"type": "MGF", "name": "../escape.xml"}, shared_pki)


def test_thousand_installation_mcf(shared_pki):
    b = build({"type": "MCF", "installations": 1000, "seed": 7}, shared_pki)
    tree = safe.parse_bytes(b.content)
    assert len(tree.getroot().findall("m:SMETS1Installation", NS)) == 1000
    assert schema.validate(tree, file_type="MCF") == []
    S.verify(tree, certificate(shared_pki, b.signer))
    ids = [el.text for el in tree.iterfind(".//m:DeviceID", NS)]
    assert len(ids) == len(set(ids)) >= 3000


@pytest.mark.parametrize("spec, key, fragment", [
    ({}, "type", "missing"),
    ({"type": "XYZ"}, "type", "not one of"),
    ({"type": "MGF", "to_be_commissioned_by_dcc": True}, "to_be_commissioned_by_dcc", "used by MCF"),
    ({"type": "MCF", "colour": "red"}, "colour", "unknown key"),
    ({"type": "MCF", "MCFCounter": -1}, "MCFCounter", "2^64-1"),
    ({"type": "MCF", "MCFCounter": 2 ** 64}, "MCFCounter", "2^64-1"),
    ({"type": "MCF", "requesting_party": "02-7D"}, "requesting_party", "EUI-64"),
    ({"type": "MCF", "group_id": "aa"}, "group_id", "two capital"),
    ({"type": "MCF", "installations": 0}, "installations", "1 ..."),
    ({"type": "MCF", "installations": [{"esme": {"mpan": "120002330596"}}]}, "installations[0].esme.mpan", "13"),
    ({"type": "MCF", "installations": [None, {"gsme": {"mprn": "12345678901"}}]}, "installations[1].gsme.mprn", "1-10"),
    ({"type": "MCF", "installations": [{"chf": False}]}, "installations[0].chf", "always present"),
    ({"type": "MCF", "installations": [{"esme": {"device_id": "00-DB-12-00-00-00-00-01"}},
                                       {"esme": {"device_id": "00-DB-12-00-00-00-00-01"}}]},
     "installations[1].esme.device_id", "unique"),
    ({"type": "MCF", "signer": "nobody"}, "signer", "no entry"),
    ({"type": "MCF", "certificates": {"critical_supplier": "nobody"}}, "certificates.critical_supplier", "no entry"),
    ({"type": "MVF", "installations": [{"failed_checks": [{"step": 5.1}]}]}, "installations[0].failed_checks[0].step", "quoted"),
    ({"type": "MVF", "installations": [{"failed_checks": [{"step": "five"}]}]}, "installations[0].failed_checks[0].step", "step number"),
    ({"type": "COF", "reporting_party": None}, "reporting_party", "ReportingPartyID"),
])
def test_bad_spec_names_the_key(shared_pki, spec, key, fragment):
    with pytest.raises(InputError) as info:
        build(spec, shared_pki, source="my-spec.yaml")
    msg = str(info.value)
    assert msg.startswith("my-spec.yaml at key " + key), msg
    assert fragment in msg, msg


# --------------------------------------------------------------------------- tampering

def where_rejected(data: bytes, file_type: str, p: pki_mod.Pki) -> dict:
    """Each Table 5.9 stage on its own: parse (5.9.1), schema (5.9.1), signature (5.9.2)."""
    out: dict = {}
    try:
        tree = safe.parse_bytes(data, file="tampered.xml")
    except XMLInputError as exc:
        return {"parse": exc.kind}
    out["parse"] = "ok"
    errors = schema.validate(tree, file_type=file_type)
    out["schema"] = "valid" if not errors else errors[0]
    certs = [certificate(p, e.name) for e in p.entries]
    try:
        profile = S.check_profile(tree, file="tampered.xml")
        cert = S.lookup(profile.issuer, profile.serial, certs)
        S.verify(tree, cert, file="tampered.xml")
        out["signature"] = "ok"
    except S.VerificationFailed as exc:
        out["signature"] = f"crypto:{exc.reason}"
    except S.SignatureError as exc:
        out["signature"] = exc.stage
    return out


# op -> (parse kind | None, schema expectation, signature stage).  Schema expectations:
# "valid", an element name the first error is about, or "root" (not a Table 10.2 structure).
EXPECTED = {
    "flip-digest-byte": ("ok", "valid", "crypto:digest"),
    "flip-signature-byte": ("ok", "valid", "crypto:signature-value"),
    "strip-signature": ("ok", "ds:Signature", "profile"),
    "second-signature": ("ok", "ds:Signature", "profile"),
    "signature-not-last": ("ok", "SMETS1Installation", "profile"),
    "add-doctype": ("doctype", None, None),
    "xxe": ("doctype", None, None),
    "billion-laughs": ("doctype", None, None),
    "der-signature-value": ("ok", "valid", "profile"),
    "extra-transform": ("ok", "valid", "profile"),
    "reference-uri": ("ok", "valid", "profile"),
    "add-object": ("ok", "valid", "profile"),
    "keyinfo-certificate": ("ok", "valid", "profile"),
    "keyinfo-unknown-serial": ("ok", "valid", "certificate"),
    "comment-in-signed-text": ("ok", "valid", "ok"),
    "truncate": ("truncated", None, None),
    "not-utf8": ("encoding", None, None),
    "wrong-root": ("ok", "root", "crypto:digest"),
    "schema-invalid": ("ok", "ImportMPAN|CHFIdentifier", "ok"),
}


def test_every_op_has_an_expectation():
    assert set(EXPECTED) == set(TAMPER_OPS)


@pytest.mark.parametrize("file_type", list(SPECS))
@pytest.mark.parametrize("op", list(TAMPER_OPS))
def test_tamper_rejected_where_expected(built, shared_pki, op, file_type):
    original = built[file_type].content
    data = tamper(original, op, pki=shared_pki)
    assert data != original
    parse, schema_expect, sig = EXPECTED[op]
    got = where_rejected(data, file_type, shared_pki)
    assert got["parse"] == parse, got
    if parse != "ok":
        return
    err = got["schema"]
    if schema_expect == "valid":
        assert err == "valid", str(err)
    elif schema_expect == "root":
        assert err.kind == "root" and err.element.endswith("File"), str(err)
    elif schema_expect == "ds:Signature":
        assert "ds:Signature" in (err.element, *err.expected), str(err)
    else:
        want = "ImportMPAN" if (op == "schema-invalid" and file_type == "MCF") else \
            "CHFIdentifier" if op == "schema-invalid" else schema_expect
        assert err.element == want, str(err)
    assert got["signature"] == sig, got


def test_profile_rejections_say_why(built, shared_pki):
    cert = certificate(shared_pki, built["MCF"].signer)
    reasons = {"der-signature-value": "DER", "extra-transform": "ds:Transform",
               "reference-uri": "URI", "add-object": "ds:Object", "keyinfo-certificate": "X509Certificate",
               "second-signature": "2 ds:Signature", "signature-not-last": "last",
               "strip-signature": "unsigned"}
    for op, fragment in reasons.items():
        with pytest.raises(S.ProfileError) as info:
            S.verify(tamper(built["MCF"].content, op), cert)
        assert fragment in str(info.value), (op, str(info.value))


def test_keyinfo_is_not_signed(built, shared_pki):
    """keyinfo-unknown-serial: the look-up fails, yet the signature itself is intact."""
    data = tamper(built["MCF"].content, "keyinfo-unknown-serial")
    cert = certificate(shared_pki, built["MCF"].signer)
    with pytest.raises(S.CertificateMismatchError):
        S.verify(data, cert)
    S.verify(data, cert, require_keyinfo_match=False)


def test_comment_in_signed_text(tmp_path, built, shared_pki):
    """Comments are outside the signed form: XMLDSig verifies, the reader sees the whole
    value (not the text before the comment), and tmadkit's 5.9.2 check refuses the file."""
    b = built["MCF"]
    data = tamper(b.content, "comment-in-signed-text")
    assert b"<!--x-->" in data
    verified = S.verify(data, certificate(shared_pki, b.signer))
    original = safe.parse_bytes(b.content).getroot().findtext("m:RequestingPartyID", namespaces=NS)
    assert verified.root.findtext("m:RequestingPartyID", namespaces=NS) == original
    reg = Registry(":memory:")
    shared_pki.load_into(reg)
    result = file_primitives.signature_verifies({"file": ReceivedFile(b.name, data), "registry": reg},
                                                file="file", registry="registry")
    assert not result.ok and "comment" in result.detail
    if XMLSEC1:
        assert xmlsec1_verify(tmp_path, data, shared_pki.entry(b.signer).certificate).returncode == 0


def test_hostile_inputs_read_nothing(built):
    """The DOCTYPE is refused before any entity is declared, let alone expanded or fetched."""
    for op in ("xxe", "billion-laughs", "add-doctype"):
        data = tamper(built["MGF"].content, op)
        assert b"<!DOCTYPE MigrationGroup [" in data
        with pytest.raises(XMLInputError) as info:
            safe.parse_bytes(data)
        assert info.value.kind == "doctype" and "root:" not in str(info.value)


def test_resign_with_and_signer_of(built, shared_pki):
    b = built["COF"]
    assert signer_of(b.content, shared_pki).name == b.signer

    def edit(root):
        root.find("m:COFCounter", NS).text = "10"

    data = resign_with(b.content, shared_pki, "commissioning-party-file-signing", edit)
    verified = S.verify(data, certificate(shared_pki, "commissioning-party-file-signing"))
    assert verified.root.findtext("m:COFCounter", namespaces=NS) == "10"
    assert RESIGN_OPS == ("schema-invalid",)


def test_tamper_errors(built):
    with pytest.raises(ValueError, match="flip-digest-byte"):
        tamper(built["MCF"].content, "no-such-op")
    with pytest.raises(ValueError, match="pki="):
        tamper(built["MCF"].content, "schema-invalid")


# --------------------------------------------------------------------------- CLI

def write_spec(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "spec.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def test_cli_writes_the_file(tmp_path, shared_pki, capsys):
    spec = write_spec(tmp_path, "type: MGF\nMCFCounter: 41\nMGFCounter: 6\ninstallations: 3\n")
    out = tmp_path / "out"
    assert cli.main(["make-file", str(spec), "--pki", str(shared_pki.dir), "--out", str(out)]) == 0
    name = capsys.readouterr().out.strip()
    entity = shared_pki.entry("requesting-party-file-signing").entity_id
    assert name == f"MGF_{entity}_41_6.xml"
    assert [p.name for p in out.iterdir()] == [name]        # no temporary file left behind
    data = (out / name).read_bytes()
    assert schema.validate(data, file_type="MGF") == []
    S.verify(data, certificate(shared_pki, "requesting-party-file-signing"))


def test_cli_json_and_tamper(tmp_path, shared_pki, capsys):
    spec = write_spec(tmp_path, "type: SCF\nsupplier_signifier: EDFE\nSCFCounter: 12\n")
    rc = cli.main(["make-file", str(spec), "--pki", str(shared_pki.dir), "--out", str(tmp_path),
                   "--json", "--tamper", "flip-digest-byte", "--now", "2026-03-01T12:00:00Z"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    data = (tmp_path / doc["name"]).read_bytes()
    assert doc["file_type"] == "SCF" and doc["signer"] == "s1sp-migration-signing"
    assert doc["tamper"] == "flip-digest-byte" and doc["naming_rule"] == "TMAD-T10.2-SCF"
    assert doc["sha256"] == hashlib.sha256(data).hexdigest() and doc["bytes"] == len(data)
    with pytest.raises(S.VerificationFailed):
        S.verify(data, certificate(shared_pki, "s1sp-migration-signing"))


@pytest.mark.parametrize("text, fragment", [
    ("type: MCF\ninstallations: [{esme: {mpan: 12}}]\n", "at key installations[0].esme.mpan"),
    ("type: MCF\ntype: MGF\n", "duplicate key 'type'"),
    ("- MCF\n", "must be a YAML mapping"),
    ("type: [MCF\n", "malformed YAML"),
    ("type: SCF\nto_be_commissioned_by_dcc: true\n", "at key to_be_commissioned_by_dcc"),
])
def test_cli_bad_spec(tmp_path, shared_pki, capsys, text, fragment):
    spec = write_spec(tmp_path, text)
    rc = cli.main(["make-file", str(spec), "--pki", str(shared_pki.dir), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and str(spec) in err and fragment in err, err
    assert not (tmp_path / "out").exists()


def test_cli_needs_an_existing_pki(tmp_path, capsys):
    spec = write_spec(tmp_path, "type: MCF\n")
    with pytest.raises(SystemExit):                         # --pki is required
        cli.main(["make-file", str(spec)])
    assert "--pki" in capsys.readouterr().err
    rc = cli.main(["make-file", str(spec), "--pki", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and "tmadkit pki init" in err
    assert not (tmp_path / "nowhere").exists()              # nothing, least of all keys, created


def test_named_descendant_xpaths_iterate_what_xpath_selects():
    """xpath_text iterates //m:A | //m:B ... in C instead of evaluating it: the same elements in
    the same order, the root included, other namespaces and other XPaths left to XPath."""
    m = file_primitives.XPATH_NAMESPACES["m"]
    doc = etree.fromstring(f'<DeviceID xmlns="{m}" xmlns:o="urn:other"><a><MPRN> 1 </MPRN><DeviceID>x</DeviceID>'
                           f'<o:DeviceID/></a><CHFIdentifier/><b><DeviceID/></b></DeviceID>'.encode())
    for select in ("//m:DeviceID | //m:CHFIdentifier", "//m:MPRN", " //m:CHFIdentifier|//m:DeviceID ",
                   "//m:DeviceID | //m:DeviceID"):
        names = file_primitives._named_descendants(select)
        assert names is not None, select
        assert list(doc.iter(*names)) == file_primitives._xpath(select)(doc), select
    for other in ("(//m:DeviceID)[1]", "//m:a/m:DeviceID", "//x:DeviceID", "/m:DeviceID", "//m:DeviceID[1]"):
        assert file_primitives._named_descendants(other) is None, other
    facts = {"file": ReceivedFile("t.xml", etree.tostring(doc))}
    assert file_primitives.xpath_text(facts, file="file", select="//m:MPRN", pattern="1").ok
    failed = file_primitives.xpath_text(facts, file="file", select="//m:DeviceID | //m:CHFIdentifier", pattern="x")
    assert not failed.ok and "line 1" in failed.detail
