"""SMKI Organisation Certificates: parsing, Certificate IDs, the registry, the test PKI.

DCC's ZAZ1 test certificates (GPL-3.0) are read in place from the vectors directory
and never copied; those tests skip when it is absent.
"""
from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tmadkit.cli import main
from tmadkit.errors import InputError
from tmadkit.paths import vectors_dir
from tmadkit.smki import certificates as C
from tmadkit.smki import pki, registry as R, roles
from tmadkit.smki.certificates import NULL_CERTIFICATE_ID, CertificateId
from tmadkit.smki.registry import Registry

DCC = vectors_dir() / "dccboxed"
needs_dcc = pytest.mark.skipif(not (DCC / "keystore" / "keystore.json").is_file(),
                               reason=f"DCC Boxed test vectors not found at {DCC} (set TMADKIT_VECTORS)")
KEYS = DCC / "signing-tool" / "keys"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)
SUPPLIER_EUI = "90-B3-D5-1F-30-01-00-00"

# signing-tool/keys/<stem>.pem -> (role code, Entity Identifier), from the vectors README.
SIGNING_TOOL = {
    "Z1-accessControlBroker-dSPXmlSign": (137, "90-B3-D5-1F-30-00-00-02"),
    "Z1-accessControlBroker-ds": (4, "90-B3-D5-1F-30-00-00-02"),
    "Z1-networkOperator-ds": (3, "90-B3-D5-1F-30-02-00-00"),
    "Z1-recovery-ds": (1, "90-B3-D5-1F-30-00-00-01"),
    "Z1-supplier-ds": (2, SUPPLIER_EUI),
    "Z1-supplier2-ds": (2, "90-B3-D5-1F-30-03-00-00"),
    "Z1-transitionalCoS-ds": (5, "90-B3-D5-1F-30-00-00-04"),
    "Z1-wanProvider-ds": (6, "90-B3-D5-1F-30-00-00-07"),
    "Z1b-accessControlBroker-ds": (4, "90-B3-D5-1F-30-00-00-02"),
    "Z1b-networkOperator-ds": (3, "90-B3-D5-1F-30-02-00-00"),
    "Z1b-recovery-ds": (1, "90-B3-D5-1F-30-00-00-01"),
    "Z1b-supplier-ds": (2, SUPPLIER_EUI),
    "Z1b-transitionalCoS-ds": (5, "90-B3-D5-1F-30-00-00-04"),
    "Z1b-wanProvider-ds": (6, "90-B3-D5-1F-30-00-00-07"),
    "dsp-xml-sign-90B3D51F30000002-ds": (137, "90-B3-D5-1F-30-00-00-02"),
    "dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1": (None, "90-B3-D5-1F-30-00-00-02"),
    "xml-sign-00DB123456780004-ds": (135, "00-DB-12-34-56-78-00-04"),
    "xml-sign-90B3D51F30010000-ds": (135, SUPPLIER_EUI),
    "xml-sign-90B3D51F30020000-ds": (135, "90-B3-D5-1F-30-02-00-00"),
}


def keystore() -> list[dict]:
    data = json.loads((DCC / "keystore" / "keystore.json").read_text())
    return [dict(x, eui=eui, usage=usage, serial=serial)
            for eui, by_usage in data.items() for usage, by_serial in by_usage.items()
            for serial, x in by_serial.items()]


def same_key(cert: C.SmkiCertificate, key) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> pki.Pki:
    return pki.init(tmp_path_factory.mktemp("pki"), now=NOW)


@pytest.fixture()
def reg(made) -> Registry:
    r = Registry(":memory:")
    made.load_into(r)
    yield r
    r.close()


# ---------------------------------------------------------------- role codes


def test_role_table_has_sec_codes_and_flags_the_assumed_tmad_codes():
    t = roles.role_table()
    assert [t.code(n) for n in ("root", "recovery", "supplier", "networkOperator", "accessControlBroker",
                                "transitionalCoS", "wanProvider", "issuingAuthority", "loadController",
                                "other", "xmlSign", "dspXmlSign")] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 127, 135, 137]
    migration = {roles.REQUESTING_PARTY_FILE_SIGNING, roles.S1SP_MIGRATION_SIGNING,
                 roles.COMMISSIONING_PARTY_FILE_SIGNING, roles.COMMISSIONING_PARTY_XML_SIGNING}
    assert migration <= t.assumed and "supplier" not in t.assumed
    assert t.hex("xmlSign") == "87" and t.name(0x89) == "dspXmlSign"
    assert set(roles.SIGNING_ROLE_FOR.values()) == migration
    assert len(set(t.by_name.values())) == len(t.by_name)


def test_role_codes_are_configurable_by_env(tmp_path, monkeypatch):
    f = tmp_path / "codes.yaml"
    f.write_text("roles:\n  requestingPartyFileSigning: {code: 0xA0, published: true}\n")
    monkeypatch.setenv(roles.ENV_VAR, str(f))
    t = roles.role_table()
    assert t.code(roles.REQUESTING_PARTY_FILE_SIGNING) == 0xA0
    assert roles.REQUESTING_PARTY_FILE_SIGNING not in t.assumed
    assert t.code("supplier") == 2  # defaults still there
    f.write_text("roles:\n  requestingPartyFileSigning: {code: 2}\n")
    with pytest.raises(InputError, match="share code 2"):
        roles.load_role_table(f)
    f.write_text("roles:\n  supplier: {code: 300}\n")
    with pytest.raises(InputError, match="0-255"):
        roles.load_role_table(f)
    with pytest.raises(InputError, match="cannot read"):
        roles.load_role_table(tmp_path / "missing.yaml")
    f.write_text("roles:\n  supplier: {code: 2}\n  supplier: {code: 3}\n")
    with pytest.raises(InputError, match="duplicate key 'supplier'") as exc:
        roles.load_role_table(f)
    assert exc.value.file == str(f) and exc.value.line == 3


def test_certificate_roles_follow_the_configured_table(made, tmp_path, monkeypatch):
    f = tmp_path / "codes.yaml"
    f.write_text("roles:\n  requestingPartyFileSigning: {code: 0xA0}\n  pPPXmlSign: {code: 0xF0}\n")
    monkeypatch.setenv(roles.ENV_VAR, str(f))
    c = C.load_file(made.entry("requesting-party-file-signing").certificate)  # OU=F0
    assert (c.role_code, c.role) == (0xF0, "pPPXmlSign")


# ---------------------------------------------------------------- DCC certificates


@needs_dcc
def test_every_keystore_certificate_parses_with_role_eui_usage_and_key():
    entries = keystore()
    assert len(entries) == 33
    for x in entries:
        c = C.parse(x["certificate"], source=x["name"])
        assert c.role_code == x["role"], x["name"]
        assert c.entity_id == C.normalise_eui(x["eui"])
        assert c.serial == int(x["serial"]) and c.key_usage == x["usage"]
        assert not c.is_device
        key = serialization.load_pem_private_key(x["privateKey"].encode(), None)
        assert same_key(c, key), x["name"]
        if x["name"].startswith("mdr-"):
            # ecdsa-with-SHA256 with NULL parameters: cryptography 50 refuses it as is;
            # we parse a repaired copy and flag it.
            assert c.problems and "NULL parameters" in c.problems[0]
            assert c.issuer == "CN=Z99,OU=07" and c.role == "other"
        else:
            assert c.problems == (), x["name"]


@needs_dcc
@pytest.mark.parametrize("stem", sorted(SIGNING_TOOL))
def test_signing_tool_certificates(stem):
    c = C.load_file(KEYS / f"{stem}.pem")
    code, eui = SIGNING_TOOL[stem]
    assert (c.role_code, c.entity_id) == (code, eui)
    assert c.issuer == "CN=Z1,OU=07" and c.key_usage == C.DIGITAL_SIGNATURE
    key = serialization.load_der_private_key((KEYS / f"{stem}.key").read_bytes(), None)
    assert same_key(c, key)
    if code is None:
        assert c.ou == "137" and c.role is None
        assert any("'137'" in p and "two hexadecimal digits" in p for p in c.problems)
        assert not c.is_organisation_certificate
        with pytest.raises(InputError, match="137"):
            c.require_organisation_certificate()
    else:
        assert c.problems == () and c.is_organisation_certificate


@needs_dcc
def test_supplier_certificate_details():
    c = C.load_file(KEYS / "Z1-supplier-ds.pem")
    assert (c.role, c.role_code, c.entity_id) == ("supplier", 2, SUPPLIER_EUI)
    assert c.subject.endswith("CN=GITTESTSUPPLIER") and c.policies == (C.ORGANISATION_POLICY_OID,)
    assert c.serial == 105986833131214866166891566273223584671
    assert bytes.fromhex("0603 55042D 0309 00 90B3D51F30010000") in c.der
    test_key = serialization.load_pem_private_key((KEYS / "test-Z1-supplier-ds.key.pem").read_bytes(), None)
    assert same_key(c, test_key)
    assert c.not_after == datetime(2025, 10, 29, 23, 59, 59, tzinfo=timezone.utc)


@needs_dcc
def test_issuer_dn_equality_across_printable_and_utf8_encodings():
    printable = C.load_file(KEYS / "Z1-supplier-ds.pem")     # issuer PrintableString
    utf8 = C.load_file(KEYS / "xml-sign-90B3D51F30010000-ds.pem")  # issuer UTF8String
    p_der, u_der = printable.cert.issuer.public_bytes(), utf8.cert.issuer.public_bytes()
    assert p_der != u_der  # different encodings ...
    assert printable.cert_id.issuer_key == utf8.cert_id.issuer_key  # ... same DN
    for text in ("CN=Z1,OU=07", "CN=Z1, OU=07", " CN = Z1 ,  OU=07", "cn=z1,ou=07",
                 "2.5.4.3=#13025A31,2.5.4.11=#0C023037"):
        assert C.dn_equal(text, printable.cert.issuer), text
        assert CertificateId.parse(text, str(printable.serial)) == printable.cert_id
    assert not C.dn_equal("OU=07,CN=Z1", printable.cert.issuer)  # reversed RDN sequence
    assert not C.dn_equal("CN=Z99,OU=07", printable.cert.issuer)


@needs_dcc
@pytest.mark.parametrize("name", ["00db123456789001-ds.pem", "00db123456789001-ka.pem"])
def test_device_certificates_are_not_organisation_certificates(name):
    c = C.load_file(DCC / "gbcs-parser-device-certs" / name)
    assert c.is_device and c.device_id == "00-DB-12-34-56-78-90-01"
    assert c.role is None and c.entity_id is None and not c.is_organisation_certificate
    assert c.problems == ("device certificate (empty subject, hardwareModuleName), "
                          "not an Organisation Certificate",)
    with pytest.raises(InputError, match="device certificate"):
        c.require_organisation_certificate()


@needs_dcc
def test_registry_with_dcc_certificates():
    with Registry() as r:
        r.add_many([e["certificate"].encode() for e in keystore()])
        extra = [C.load_file(KEYS / f"{s}.pem") for s in SIGNING_TOOL]
        r.add_many([c for c in extra if r.lookup(c.cert_id) is None])
        assert len(r) == 33 + 2  # the signing tool adds Z1-accessControlBroker-dSPXmlSign, pre-1.4.1
        sup = C.load_file(KEYS / "Z1-supplier-ds.pem")
        for issuer in ("CN=Z1,OU=07", "CN=Z1, OU=07"):
            rec = r.lookup(issuer, str(sup.serial))
            assert rec is not None and rec.der == sup.der and rec.role == "supplier"
            assert rec.entity_id == SUPPLIER_EUI and rec.key_usage == C.DIGITAL_SIGNATURE
        assert r.lookup("CN=Z99,OU=07", sup.serial) is None
        assert [x.issuer for x in r.find_by_serial(sup.serial)] == ["CN=Z1,OU=07"]
        assert r.critical_supplier_id(sup.cert_id) == SUPPLIER_EUI
        assert r.non_critical_supplier_id(sup.cert_id) is None
        ka = next(C.parse(e["certificate"]) for e in keystore() if e["name"] == "Z1-supplier-ka")
        assert r.non_critical_supplier_id(ka.cert_id) == SUPPLIER_EUI
        assert r.critical_supplier_id(ka.cert_id) is None
        xml = C.load_file(KEYS / "xml-sign-90B3D51F30010000-ds.pem")  # role 135, not supplier
        assert r.entity_identifier(xml.cert_id) == SUPPLIER_EUI
        assert r.critical_supplier_id(xml.cert_id) is None
        # The ZAZ1 issuing CA certificate is not public, so nothing can be confirmed valid.
        v = r.confirm_validity(xml.cert_id, NOW)
        assert v.reasons == (R.UNTRUSTED_ISSUER,)
        v = r.confirm_validity(sup.cert_id, datetime(2026, 11, 21, tzinfo=timezone.utc))
        assert set(v.reasons) == {R.UNTRUSTED_ISSUER, R.EXPIRED}
        pre = C.load_file(KEYS / "dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1.pem")
        assert R.NOT_ORGANISATION in r.confirm_validity(pre.cert_id, NOW).reasons


# ---------------------------------------------------------------- parsing edge cases


def test_malformed_certificate_bytes_name_the_file(tmp_path):
    bad = tmp_path / "bad.der"
    bad.write_bytes(b"\x30\x03\x02\x01\x01")
    with pytest.raises(InputError, match=r"bad\.der.*not a valid X\.509"):
        C.load_file(bad)
    pem = tmp_path / "bad.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError, match=r"bad\.pem.*base64"):
        C.load_file(pem)
    with pytest.raises(InputError, match=r"missing\.pem.*cannot read"):
        C.load_file(tmp_path / "missing.pem")


def test_null_certificate_id():
    assert NULL_CERTIFICATE_ID.serial == 0 and NULL_CERTIFICATE_ID.issuer_string == "NULL"
    assert CertificateId.parse("NULL", "0") == NULL_CERTIFICATE_ID
    assert CertificateId.parse("CN=NULL", 0).is_null
    assert not CertificateId.parse("NULL", "1").is_null
    assert not CertificateId.parse("CN=Z1,OU=07", "0").is_null
    with pytest.raises(InputError, match="decimal"):
        CertificateId.parse("CN=Z1,OU=07", "0x1F")
    with pytest.raises(InputError, match="distinguished name"):
        CertificateId.parse("Z1", "1")


def test_eui_normalisation():
    assert C.normalise_eui("90b3d51f30010000") == SUPPLIER_EUI
    assert C.normalise_eui(" 90-b3-d5-1f-30-01-00-00 ") == SUPPLIER_EUI
    for bad in ("90B3D51F300100", "90:B3:D5:1F:30:01:00:00", "90B3D51F3001000G"):
        with pytest.raises(ValueError):
            C.normalise_eui(bad)


# ---------------------------------------------------------------- test PKI


def test_pki_certificates_parse_back_and_chain(made):
    root = x509.load_pem_x509_certificate(made.root.read_bytes())
    ca = x509.load_pem_x509_certificate(made.issuing_ca.read_bytes())
    ca.verify_directly_issued_by(root)
    assert ca.subject.rfc4514_string() == "CN=TK1,OU=07"
    assert {e.name for e in made.entries} >= {"requesting-party-file-signing", "s1sp-migration-signing",
                                               "commissioning-party-file-signing",
                                               "commissioning-party-xml-signing",
                                               "supplier-ds", "supplier-ka", "network-operator-ds",
                                               "network-operator-ka"}
    table = roles.role_table()
    for e in made.entries:
        c = C.load_file(e.certificate)
        assert c.cert_id == e.cert_id and c.entity_id == e.entity_id and c.key_usage == e.usage
        assert 120 < c.serial.bit_length() <= 127  # 16 DER octets, positive
        assert c.not_before == e.not_before and c.not_after == e.not_after
        if e.negative == pki.MALFORMED_ROLE:
            assert c.role is None and c.ou == str(table.code(e.role))
            continue
        assert (c.role, c.role_code) == (e.role, table.code(e.role)), e.name
        assert c.problems == (), e.name
        ku = c.cert.extensions.get_extension_for_class(x509.KeyUsage)
        pol = c.cert.extensions.get_extension_for_class(x509.CertificatePolicies)
        assert ku.critical and pol.critical
        eui = bytes.fromhex(e.entity_id.replace("-", ""))
        assert bytes.fromhex("0603 55042D 0309 00") + eui in c.der
        if e.negative == pki.UNTRUSTED_ISSUER:
            with pytest.raises(Exception):
                c.cert.verify_directly_issued_by(ca)
        else:
            c.cert.verify_directly_issued_by(ca)
        key = serialization.load_pem_private_key(e.private_key.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        assert same_key(c, key)


def test_pki_keys_are_private(made):
    key_dir = made.dir / "keys"
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    key_files = list(key_dir.iterdir())
    assert len(key_files) == len(made.entries) + 2  # + root and issuing CA keys
    for k in key_files:
        assert stat.S_IMODE(k.stat().st_mode) == 0o600, k
    for p in made.dir.rglob("*"):  # no key material outside the key directory
        if p.is_file() and p.parent != key_dir:
            assert b"PRIVATE KEY" not in p.read_bytes(), p


def test_pki_keys_go_where_pointed(tmp_path):
    p = pki.init(tmp_path / "pki", now=NOW, key_dir=tmp_path / "secret",
                 parties={"supplier": "90b3d51f30010000"})
    assert [e.name for e in p.entries] == ["supplier-ds", "supplier-ka", "supplier-ds-expired"]
    assert all(e.private_key.parent == tmp_path / "secret" for e in p.entries)
    assert not (tmp_path / "pki" / "keys").exists()
    assert p.entry("supplier-ds").entity_id == SUPPLIER_EUI
    loaded = pki.load(tmp_path / "pki")
    assert loaded.entries == p.entries


def test_pki_manifest_round_trips(made):
    assert pki.load(made.dir).entries == made.entries
    manifest = (made.dir / pki.MANIFEST).read_text()
    assert "role_code_assumed: true" in manifest and "negative: expired" in manifest


@pytest.mark.parametrize("damage, message, line", [
    ("tmadkit_pki: 1\nnow: [unclosed\n", "not valid YAML", 3),
    ("tmadkit_pki: 1\ntmadkit_pki: 1\n", "duplicate key 'tmadkit_pki'", 2),
])
def test_a_malformed_pki_manifest_is_an_error_naming_file_and_line(tmp_path, damage, message, line):
    (tmp_path / pki.MANIFEST).write_text(damage)
    with pytest.raises(InputError, match=message) as exc:
        pki.load(tmp_path)
    assert exc.value.file == str(tmp_path / pki.MANIFEST) and exc.value.line == line


def test_pki_refuses_to_overwrite_and_reports_unwritable_paths(made, tmp_path):
    with pytest.raises(InputError, match="already here"):
        pki.init(made.dir, now=NOW)
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(InputError, match=r"plain-file.*cannot create directory"):
        pki.init(blocker / "pki", now=NOW)


def test_a_failed_pki_init_leaves_nothing_it_made(tmp_path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot create directory"):
        pki.init(tmp_path / "new" / "pki", now=NOW, key_dir=blocker / "keys")   # keys cannot go there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain-file"]      # no new/, no pki/ca, no pki/certs


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_pki_into_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        with pytest.raises(InputError, match="Permission denied"):
            pki.init(ro / "pki", now=NOW)
    finally:
        ro.chmod(0o700)


def test_pki_cli(tmp_path, capsys):
    assert main(["pki", "init", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "requesting-party-file-signing" in out and "PRIVATE KEY" not in out
    assert main(["pki", "init", str(tmp_path / "b"), "--now", "2026-01-01T00:00:00Z", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    sup = next(c for c in summary["certificates"] if c["name"] == "supplier-ds")
    assert sup["role_code"] == 2 and sup["issuer"] == "CN=TK1,OU=07"
    assert pki.load(tmp_path / "b").entry("supplier-ds").not_before == NOW - timedelta(days=1)
    assert main(["pki", "init", str(tmp_path / "b")]) == 2
    assert "already here" in capsys.readouterr().err


# ---------------------------------------------------------------- registry + Confirm Validity


def test_confirm_validity_period_is_inclusive_at_both_ends(made, reg):
    e = made.entry("supplier-ds")
    assert reg.confirm_validity(e.cert_id, e.not_before).valid
    assert reg.confirm_validity(e.cert_id, e.not_after).valid
    assert reg.confirm_validity(e.cert_id, e.not_before - SECOND).reasons == (R.NOT_YET_VALID,)
    assert reg.confirm_validity(e.cert_id, e.not_after + SECOND).reasons == (R.EXPIRED,)
    # any timezone, same instant
    bst = timezone(timedelta(hours=1))
    assert reg.confirm_validity(e.cert_id, e.not_after.astimezone(bst)).valid
    with pytest.raises(TypeError, match="timezone-aware"):
        reg.confirm_validity(e.cert_id, datetime(2026, 1, 1))


def test_confirm_validity_negatives(made, reg):
    def reasons(name, at=NOW):
        return reg.confirm_validity(made.entry(name).cert_id, at).reasons

    assert reasons("requesting-party-file-signing") == ()
    assert reasons("requesting-party-file-signing-expired") == (R.EXPIRED,)
    assert reasons("requesting-party-file-signing-not-yet-valid") == (R.NOT_YET_VALID,)
    assert reasons("requesting-party-file-signing-revoked") == (R.REVOKED,)
    revoked_at = made.entry("requesting-party-file-signing-revoked").revoked_at
    assert reasons("requesting-party-file-signing-revoked", revoked_at - SECOND) == ()
    assert reasons("requesting-party-file-signing-revoked", revoked_at) == (R.REVOKED,)
    assert reasons("requesting-party-untrusted-issuer") == (R.BAD_SIGNATURE,)
    assert reasons("requesting-party-malformed-role") == (R.NOT_ORGANISATION,)
    # wrong role / wrong usage are valid certificates: Table 5.5 checks the role, not this.
    assert reasons("requesting-party-wrong-role") == ()
    assert reasons("requesting-party-wrong-usage") == ()
    assert reg.confirm_validity(NULL_CERTIFICATE_ID, NOW).reasons == (R.NULL_ID,)
    unknown = CertificateId.parse("CN=TK1,OU=07", "12345")
    assert reg.confirm_validity(unknown, NOW).reasons == (R.UNKNOWN,)
    v = reg.confirm_validity(made.entry("supplier-ds").cert_id, NOW)
    assert v and v.reason == R.VALID


def test_unknown_issuer_fails(made):
    with Registry() as r:  # certificates present, issuing CA not trusted
        r.add(made.entry("supplier-ds").certificate.read_bytes())
        v = r.confirm_validity(made.entry("supplier-ds").cert_id, NOW)
        assert not v and v.reasons == (R.UNTRUSTED_ISSUER,) and "CN=TK1,OU=07" in str(v)
        r.add_trusted_ca((made.dir / "ca" / "rogue-issuing-ca.pem").read_bytes())  # same DN, wrong key
        assert r.confirm_validity(made.entry("supplier-ds").cert_id, NOW).reasons == (R.BAD_SIGNATURE,)
        r.add_trusted_ca(made.issuing_ca.read_bytes())
        assert r.confirm_validity(made.entry("supplier-ds").cert_id, NOW).valid
        # the issuing CA itself must be within its validity period
        assert R.ISSUER_NOT_VALID in r.confirm_validity(made.entry("supplier-ds").cert_id,
                                                        NOW - timedelta(days=40)).reasons
        with pytest.raises(InputError, match="not a CA"):
            r.add_trusted_ca(made.entry("supplier-ds").certificate.read_bytes())


def test_registry_lookup_and_revoke(made, reg, tmp_path):
    e = made.entry("network-operator-ds")
    for issuer in ("CN=TK1,OU=07", "CN=TK1, OU=07", "cn=tk1, ou=07"):
        rec = reg.lookup(issuer, str(e.cert_id.serial))
        assert rec is not None and rec.cert_id == e.cert_id
        assert (rec.role, rec.role_code, rec.key_usage, rec.entity_id) == (
            "networkOperator", 3, C.DIGITAL_SIGNATURE, e.entity_id)
        assert rec.certificate().cert_id == e.cert_id
    assert reg.lookup(e.cert_id) == reg.lookup("CN=TK1,OU=07", e.cert_id.serial)
    assert reg.lookup("CN=TK0,OU=00", e.cert_id.serial) is None
    assert reg.lookup(NULL_CERTIFICATE_ID) is None
    reg.revoke(e.cert_id, NOW)
    assert reg.confirm_validity(e.cert_id, NOW).reasons == (R.REVOKED,)
    with pytest.raises(KeyError):
        reg.revoke(CertificateId.parse("CN=TK1,OU=07", 1), NOW)
    # file-backed registry persists
    path = tmp_path / "reg.sqlite"
    with Registry(path) as r:
        made.load_into(r)
    with Registry(path) as r:
        assert len(r) == len(made.entries) and r.lookup(e.cert_id).entity_id == e.entity_id


def test_registry_rejects_duplicate_certificate_ids_atomically(made):
    with Registry() as r:
        first = made.entry("supplier-ds").certificate.read_bytes()
        r.add(first)
        other = made.entry("supplier-ka").certificate.read_bytes()
        with pytest.raises(InputError, match="already in the registry"):
            r.add_many([other, first])
        assert len(r) == 1 and r.lookup(C.parse(other).cert_id) is None
        with pytest.raises(InputError, match="given twice"):
            r.add_many([other, other])


def test_critical_and_non_critical_ids(made, reg):
    def ids(name):
        cid = made.entry(name).cert_id if name else NULL_CERTIFICATE_ID
        return (reg.critical_supplier_id(cid), reg.non_critical_supplier_id(cid),
                reg.critical_network_operator_id(cid), reg.non_critical_network_operator_id(cid))

    sup, nwo = pki.DEFAULT_PARTIES["supplier"], pki.DEFAULT_PARTIES["network-operator"]
    assert ids("supplier-ds") == (sup, None, None, None)
    assert ids("supplier-ka") == (None, sup, None, None)
    assert ids("network-operator-ds") == (None, None, nwo, None)
    assert ids("network-operator-ka") == (None, None, None, nwo)
    assert ids("supplier-b-ds")[0] == pki.DEFAULT_PARTIES["supplier-b"]
    for name in ("requesting-party-file-signing", "dcc-access-control-broker-ds",
                 "dcc-access-control-broker-ka", "requesting-party-malformed-role", None):
        assert ids(name) == (None, None, None, None), name
    # The IDs depend only on role + keyUsage, not on validity (Confirm Validity is separate).
    assert ids("supplier-ds-expired")[0] == sup
    unknown = CertificateId.parse("CN=TK1,OU=07", 99)
    assert reg.critical_supplier_id(unknown) is None and reg.entity_identifier(unknown) is None
    assert reg.entity_identifier(made.entry("s1sp-migration-signing").cert_id) == pki.DEFAULT_PARTIES["s1sp"]


def test_an_existing_key_directory_others_can_read_is_refused_and_left_as_it_was(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with pytest.raises(InputError, match="can be read by others"):
        pki.init(tmp_path / "pki", now=NOW, key_dir=shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777 and not list(shared.iterdir())
    assert not (tmp_path / "pki").exists()


def test_an_existing_private_key_directory_keeps_its_mode(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    os.chmod(mine, 0o300)       # nothing for others, as the user set it (not 0700: it must not become that)
    made = pki.init(tmp_path / "pki", now=NOW, key_dir=mine)
    assert stat.S_IMODE(mine.stat().st_mode) == 0o300
    assert all(e.private_key.parent == mine and e.private_key.is_file() for e in made.entries)
