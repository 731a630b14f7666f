"""The TMAD XML signature profile (Table 10.1 "Signature"/"KeyInfo", Clause 5.5, step 5.9.2).

Ground truth is external and independent: 7 DUIS responses signed by DCC Boxed
(Java JSR-105 / Apache Santuario) with the ZAZ1 test keys, DCC's own negatives,
xmlsec and W3C samples, and the xmlsec1 command-line tool.  Vectors are read in
place from paths.vectors_dir() and never copied here (GPL-3.0); tests skip with a
reason when they are absent.  Nothing is mocked: real lxml, xmlsec, cryptography.

Each rejection asserts *where* it happens: the structural gate ("profile"), the
certificate lookup/match ("certificate") or the cryptographic check ("crypto").
"""
from __future__ import annotations

import base64
import copy
import datetime
import functools
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

from _vectors import vector
from tmadkit.errors import InputError
from tmadkit.xml import safe
from tmadkit.xml import signature as S
from tmadkit.xml.safe import XMLInputError

DS = S.DSIG_NS
NS = {"ds": DS, "sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# The seven genuine DCC-signed responses (expected_results.json: valid, not "reject").
POSITIVES = [
    "duis-sign-wrap/readfw-version-response.xml",
    "duis-templates/test-data-ECS52_11.2_SUCCESS_RESPONSE_DUIS.XML",
    "signing-tool/samples/main-resources-message.xml",
    "signing-tool/samples/read-inventory-response-4g.xml",
    "signing-tool/samples/read-inventory-response-5.4.xml",
    "signing-tool/samples/readfw-response-resigned.xml",
    "signing-tool/samples/readfw-response.xml",
]
# Base for mutations: signer Z1-accessControlBroker-dSPXmlSign, valid to 2035.
BASE = "signing-tool/samples/readfw-response-resigned.xml"
BASE_CERT = "Z1-accessControlBroker-dSPXmlSign"


# --------------------------------------------------------------------------- vectors



def dcc(rel: str) -> Path:
    return vector("dccboxed", *rel.split("/"))


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(dcc(f"signing-tool/keys/{name}.pem").read_bytes())


def dcc_key(name: str) -> ec.EllipticCurvePrivateKey:
    # The signing tool ships DER PKCS#8 .key files (public ZAZ1 *test* keys).
    return serialization.load_der_private_key(dcc(f"signing-tool/keys/{name}.key").read_bytes(),
                                              password=None)


@functools.lru_cache(maxsize=None)
def _store(keys_dir: str) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificate(p.read_bytes())
                 for p in sorted(Path(keys_dir).glob("*.pem")) if not p.name.endswith(".key.pem"))


def trust_store() -> tuple[x509.Certificate, ...]:
    """All 19 signing-tool certificates: the stand-in for an SMKI repository."""
    return _store(str(dcc("signing-tool/keys")))


@functools.lru_cache(maxsize=None)
def _expected(path: str) -> dict:
    return {r["file"]: r for r in json.loads(Path(path).read_text())["results"]}


def expected() -> dict:
    return _expected(str(dcc("expected_results.json")))


def serialise(tree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def mutated(edit, rel: str = BASE) -> bytes:
    """The base DCC document, edited in the tree, re-serialised."""
    tree = safe.parse_file(dcc(rel))
    edit(tree.getroot(), tree.getroot().find("ds:Signature", NS))
    return serialise(tree)


def in_profile(data: bytes) -> S.SignatureProfile:
    return S.check_profile(safe.parse_bytes(data, file="mutated.xml"))


def profile_rejects(data: bytes, *fragments: str) -> S.ProfileError:
    """Rejected by the structural gate, i.e. before any cryptography."""
    with pytest.raises(S.ProfileError) as info:
        S.verify(data, cert(BASE_CERT), file="mutated.xml")
    err = info.value
    assert err.stage == "profile" and "TMAD:T5.9/5.9.2" in err.clauses
    for fragment in fragments:
        assert fragment in str(err), str(err)
    return err


def crypto_rejects(data: bytes, reason: str, certificate: x509.Certificate | None = None):
    """Passes the gate, fails the xmlsec verification for ``reason``."""
    in_profile(data)
    with pytest.raises(S.VerificationFailed) as info:
        S.verify(data, certificate or cert(BASE_CERT), file="mutated.xml")
    assert info.value.stage == "crypto" and info.value.reason == reason, str(info.value)
    return info.value


# --------------------------------------------------------------------------- DCC positives

def test_positive_list_matches_expected_results():
    valid = {f for f, r in expected().items()
             if r["python-xmlsec_1.3.17"] == "VALID"
             and not r["expected_toolkit_outcome"].startswith("reject")}
    assert valid == set(POSITIVES)


@pytest.mark.parametrize("rel", POSITIVES)
def test_dcc_positive_verifies(rel):
    tree = safe.parse_file(dcc(rel))
    profile = S.check_profile(tree)
    assert profile.issuer_name == "CN=Z1,OU=07"
    signer = S.lookup(profile.issuer_name, profile.serial, trust_store())
    want = expected()[rel]["cert_by_serial"]
    assert signer == x509.load_pem_x509_certificate(dcc(want).read_bytes())
    result = S.verify(tree, signer)
    assert result.serial == int(expected()[rel]["keyinfo_serial"])
    assert result.root is tree.getroot()
    # Also from bytes, through the hardened parser.
    assert S.verify(dcc(rel).read_bytes(), signer).serial == profile.serial


def test_high_s_signatures_are_accepted():
    """No low-S rule: DCC (Java) signatures are high-S about half the time."""
    high = [rel for rel in POSITIVES
            if S.check_profile(safe.parse_file(dcc(rel))).s > P256_ORDER // 2]
    assert len(high) >= 3, high


def test_java_base64_wrapping_with_cr_is_accepted():
    raw = dcc(BASE).read_bytes()
    assert b"&#13;" in raw
    assert len(S.check_profile(safe.parse_bytes(raw)).signature_value) == 64


# --------------------------------------------------------------------------- DCC negatives

def test_dcc_badsignature_fails_at_the_signature_value():
    rel = "signing-tool/samples/readfw-response-badsignature.xml"
    tree = safe.parse_file(dcc(rel))
    p = S.check_profile(tree)
    signer = S.lookup(p.issuer_name, p.serial, trust_store())
    with pytest.raises(S.VerificationFailed) as info:
        S.verify(tree, signer)
    assert info.value.stage == "crypto" and info.value.reason == "signature-value"
    assert "SignatureValue does not verify" in str(info.value)


def test_dcc_invalid_fails_at_the_digest():
    rel = "signing-tool/samples/readfw-response-invalid.xml"
    tree = safe.parse_file(dcc(rel))
    p = S.check_profile(tree)
    with pytest.raises(S.VerificationFailed) as info:
        S.verify(tree, S.lookup(p.issuer_name, p.serial, trust_store()))
    assert info.value.reason == "digest"
    assert "changed after signing" in str(info.value)


def test_dcc_no_serial_fails_at_the_profile_gate():
    with pytest.raises(S.ProfileError) as info:
        S.check_profile(safe.parse_file(dcc("signing-tool/samples/readfw-response-no-serial.xml")))
    assert "missing ds:KeyInfo" in str(info.value)
    assert "TMAD:T10.1/Signature" in info.value.clauses


def test_dcc_nonexist_serial_is_a_lookup_failure_and_keyinfo_is_unsigned():
    tree = safe.parse_file(dcc("signing-tool/samples/readfw-response-nonexist-serial.xml"))
    p = S.check_profile(tree)                       # structurally fine
    assert p.serial == 217636141832862931915946451229571981153
    with pytest.raises(S.CertificateMismatchError) as info:
        S.lookup(p.issuer_name, p.serial, trust_store())
    assert info.value.stage == "certificate" and str(p.serial) in str(info.value)
    real_signer = cert("Z1-accessControlBroker-ds")
    # verify() refuses a certificate that is not the one KeyInfo names...
    with pytest.raises(S.CertificateMismatchError):
        S.verify(tree, real_signer)
    # ...while the cryptography alone still passes: the serial is not signed.
    assert S.verify(tree, real_signer, require_keyinfo_match=False)


def test_dcc_xxe_is_refused_by_the_parser():
    path = dcc("signing-tool/samples/duis-xxe.xml")
    with pytest.raises(XMLInputError) as info:
        safe.parse_file(path)
    assert info.value.kind == "doctype"
    with pytest.raises(XMLInputError):
        S.verify(path.read_bytes(), cert("Z1-accessControlBroker-ds"))


# --------------------------------------------------------------------------- digest regression

@pytest.mark.parametrize("rel", POSITIVES)
def test_dcc_digest_is_inclusive_c14n_of_document_minus_signature(rel):
    """Regression for the exc-c14n pitfall: the Reference carries only the
    enveloped-signature transform, so its octets are inclusive C14N 1.0 (XMLDSig
    §4.4.3.2).  The DCC roots declare unused xmlns:ns3/xmlns:ra, which exc-c14n drops."""
    tree = safe.parse_file(dcc(rel))
    digest = S.check_profile(tree).digest_value
    doc = copy.deepcopy(tree)
    doc.getroot().remove(doc.getroot().find("ds:Signature", NS))
    inclusive = etree.tostring(doc, method="c14n", exclusive=False, with_comments=False)
    exclusive = etree.tostring(doc, method="c14n", exclusive=True, with_comments=False)
    assert hashlib.sha256(inclusive).digest() == digest
    assert hashlib.sha256(exclusive).digest() != digest
    assert b"xmlns:ns3=" in inclusive and b"xmlns:ns3=" not in exclusive


# --------------------------------------------------------------------------- wrapping etc.

def test_reserialised_base_still_verifies():
    """Control for the mutations below: lxml re-serialisation alone changes nothing."""
    assert S.verify(mutated(lambda root, sig: None), cert(BASE_CERT))


def test_duplicated_signed_element_fails_digest():
    def edit(root, sig):
        root.find("sr:Body", NS).append(copy.deepcopy(root.find("sr:Header", NS)))
    crypto_rejects(mutated(edit), "digest")


def test_moved_signed_element_fails_digest():
    def edit(root, sig):
        header = root.find("sr:Header", NS)
        root.remove(header)
        root.insert(1, header)                      # after Body, before Signature
    crypto_rejects(mutated(edit), "digest")


def test_second_signature_inside_body_is_refused():
    def edit(root, sig):
        root.find("sr:Body", NS).append(copy.deepcopy(sig))
    profile_rejects(mutated(edit), "2 ds:Signature elements")


def test_second_signature_at_the_end_is_refused():
    profile_rejects(mutated(lambda root, sig: root.append(copy.deepcopy(sig))),
                    "2 ds:Signature elements")


def test_signature_not_last_is_refused():
    def edit(root, sig):
        root.append(etree.Element(f"{{{NS['sr']}}}Extra"))
    profile_rejects(mutated(edit), "must be the last element", "sr:Extra")


def test_signature_not_child_of_root_is_refused():
    profile_rejects(mutated(lambda root, sig: root.find("sr:Body", NS).append(sig)),
                    "must be a child of the root", "sr:Body")


def test_wrapped_document_is_refused():
    """XSW: the signed document wrapped in a new root, attacker content beside it."""
    tree = safe.parse_file(dcc(BASE))
    wrapper = etree.Element("{urn:evil}Wrapper")
    wrapper.append(etree.Element("{urn:evil}Payload"))
    wrapper.append(copy.deepcopy(tree.getroot()))
    profile_rejects(serialise(wrapper.getroottree()), "must be a child of the root")


def test_unsigned_file_is_refused():
    profile_rejects(mutated(lambda root, sig: root.remove(sig)), "no ds:Signature")


def test_comment_injected_into_signed_text():
    """Comments are outside the URI="" digest, so the signature stays valid (that is
    correct C14N).  The danger is a reader taking ``.text`` = "I" from I<!--x-->0.
    The hardened parser drops comments, so the verified tree reads "I0": what was signed."""
    raw = dcc(BASE).read_bytes()
    code = b"<sr:ResponseCode>I0</sr:ResponseCode>"
    assert code in raw
    injected = raw.replace(code, b"<sr:ResponseCode>I<!--x-->0</sr:ResponseCode>")
    result = S.verify(injected, cert(BASE_CERT))
    assert result.root.find(".//sr:ResponseCode", NS).text == "I0"

    kept = safe.parse_bytes(injected, keep_comments=True)
    assert kept.getroot().find(".//sr:ResponseCode", NS).text == "I"   # the naive pitfall
    assert S.verify(kept, cert(BASE_CERT))                             # still valid

    # A comment cannot hide a change of content: "E1" instead of "I0" fails the digest.
    swapped = raw.replace(code, b"<sr:ResponseCode><!--I0-->E1</sr:ResponseCode>")
    crypto_rejects(swapped, "digest")


def test_comment_inside_signature_is_refused_when_comments_are_kept():
    raw = dcc(BASE).read_bytes().replace(b"<ds:SignedInfo>", b"<ds:SignedInfo><!--x-->")
    assert S.verify(raw, cert(BASE_CERT))          # default parser: comment dropped
    with pytest.raises(S.ProfileError, match="comment inside ds:Signature"):
        S.check_profile(safe.parse_bytes(raw, keep_comments=True))


def test_keyinfo_pointing_at_another_certificate():
    """KeyInfo is unsigned: the gate and the lookup accept a swapped serial, the
    looked-up certificate is the attacker's choice, and the crypto check fails."""
    other = cert("Z1-supplier-ds")
    raw = dcc(BASE).read_bytes()
    swapped = raw.replace(b"20315062944123339095836004026371736578",
                          str(other.serial_number).encode())
    p = in_profile(swapped)
    looked_up = S.lookup(p.issuer_name, p.serial, trust_store())
    assert looked_up == other
    crypto_rejects(swapped, "signature-value", looked_up)


def test_ds_object_is_refused_though_xmlsec_alone_accepts_it():
    def edit(root, sig):
        obj = etree.SubElement(sig, f"{{{DS}}}Object")
        etree.SubElement(obj, "{urn:evil}Data").text = "smuggled"
    data = mutated(edit)
    profile_rejects(data, "not allowed: ds:Object")
    # Why the gate exists: even with whitelists, xmlsec verifies this file.
    tree = safe.parse_bytes(data)
    pem = cert(BASE_CERT).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    ctx = S._context(xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem))
    ctx.verify(tree.getroot().find("ds:Signature", NS))


def test_extra_transform_is_refused_by_the_gate_and_by_xmlsec_whitelist():
    def edit(root, sig):
        transforms = sig.find(".//ds:Transforms", NS)
        etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=S.EXC_C14N)
    data = mutated(edit)
    profile_rejects(data, "exactly one ds:Transform", "found 2")
    # Second line: the xmlsec whitelist alone also refuses it.
    tree = safe.parse_bytes(data)
    pem = cert(BASE_CERT).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    ctx = S._context(xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem))
    with pytest.raises(xmlsec.Error):
        ctx.verify(tree.getroot().find("ds:Signature", NS))


@pytest.mark.parametrize("uri", ["#x", "#xpointer(/)", "http://example.org/a.xml", " "])
def test_reference_uri_other_than_empty_is_refused(uri):
    def edit(root, sig):
        root.set("Id", "x")
        sig.find(".//ds:Reference", NS).set("URI", uri)
    profile_rejects(mutated(edit), "Reference URI=", "only URI=\"\"")


def test_reference_without_uri_is_refused():
    def edit(root, sig):
        del sig.find(".//ds:Reference", NS).attrib["URI"]
    profile_rejects(mutated(edit), "no URI attribute")


def _set_signature_value(raw: bytes):
    def edit(root, sig):
        sig.find("ds:SignatureValue", NS).text = base64.b64encode(raw).decode()
    return mutated(edit)


def test_der_signature_value_is_refused_at_the_gate():
    p = S.check_profile(safe.parse_file(dcc(BASE)))
    der = encode_dss_signature(p.r, p.s)
    assert 70 <= len(der) <= 72
    profile_rejects(_set_signature_value(der), f"{len(der)} bytes, not 64", "DER")


def test_zero_padded_signature_value_is_refused_at_the_gate():
    p = S.check_profile(safe.parse_file(dcc(BASE)))
    padded = b"\0" + p.signature_value[:32] + b"\0" + p.signature_value[32:]
    profile_rejects(_set_signature_value(padded), "66 bytes", "zero-padded")


def test_short_or_non_base64_signature_value_is_refused():
    profile_rejects(_set_signature_value(b"\x01" * 63), "63 bytes")
    def edit(root, sig):
        sig.find("ds:SignatureValue", NS).text = "not*base64!"
    profile_rejects(mutated(edit), "not valid base64")


def test_whitespace_in_signature_value_is_fine():
    def edit(root, sig):
        sv = sig.find("ds:SignatureValue", NS)
        sv.text = "\r\n  ".join(_chunks(sv.text))
    assert S.verify(mutated(edit), cert(BASE_CERT))


def _chunks(text: str) -> list[str]:
    flat = "".join(text.split())
    return [flat[i:i + 10] for i in range(0, len(flat), 10)]


@pytest.mark.parametrize("xpath,algorithm", [
    ("ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
    ("ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"),
    ("ds:SignedInfo/ds:CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
    ("ds:SignedInfo/ds:CanonicalizationMethod", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"),
    ("ds:SignedInfo/ds:Reference/ds:DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"),
    ("ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform", "http://www.w3.org/TR/1999/REC-xslt-19991116"),
])
def test_algorithm_substitution_is_refused(xpath, algorithm):
    def edit(root, sig):
        sig.find(xpath, NS).set("Algorithm", algorithm)
    profile_rejects(mutated(edit), f"Algorithm is {algorithm!r}")


@pytest.mark.parametrize("where,child", [
    ("ds:KeyInfo/ds:X509Data", "X509Certificate"),
    ("ds:KeyInfo/ds:X509Data", "X509SubjectName"),
    ("ds:KeyInfo/ds:X509Data", "X509IssuerSerial"),
    ("ds:KeyInfo", "KeyValue"),
    ("ds:KeyInfo", "KeyName"),
    ("ds:KeyInfo", "RetrievalMethod"),
    ("ds:KeyInfo", "X509Data"),
    ("ds:SignedInfo", "Reference"),
    ("ds:SignedInfo/ds:CanonicalizationMethod", "InclusiveNamespaces"),
])
def test_extra_elements_inside_signature_are_refused(where, child):
    def edit(root, sig):
        etree.SubElement(sig.find(where, NS), f"{{{DS}}}{child}").text = "x"
    profile_rejects(mutated(edit), f"ds:{child}")


def test_attributes_and_text_inside_signature_are_refused():
    profile_rejects(mutated(lambda root, sig: sig.set("Id", "s1")), "attribute(s) Id")
    profile_rejects(mutated(lambda root, sig: sig.find("ds:SignedInfo/ds:Reference", NS)
                            .set("Type", "urn:x")), "attribute(s) Type")
    def text(root, sig):
        sig.find("ds:KeyInfo", NS).text = "hello"
    profile_rejects(mutated(text), "contains text 'hello'")


@pytest.mark.parametrize("serial", ["-1", "0x0F", "12 34", "", "0", "9" * 80])
def test_bad_serial_numbers_are_refused(serial):
    def edit(root, sig):
        sig.find(".//ds:X509SerialNumber", NS).text = serial
    err = profile_rejects(mutated(edit), "X509SerialNumber")
    assert "TMAD:T10.1/KeyInfo" in err.clauses


def test_whitespace_change_in_signed_info_fails_the_signature_value():
    def edit(root, sig):
        sig.find("ds:SignedInfo/ds:CanonicalizationMethod", NS).tail = "\n"
    crypto_rejects(mutated(edit), "signature-value")


def test_issuer_name_variant_is_an_unsigned_index_only():
    """``CN=Z1, OU=07`` (DUIS template spelling) is the same DN: the gate accepts
    it, the lookup resolves it by DN, and the signature still verifies."""
    raw = dcc(BASE).read_bytes().replace(b"CN=Z1,OU=07", b"CN=Z1, OU=07")
    p = in_profile(raw)
    assert p.issuer_name == "CN=Z1, OU=07"
    assert S.verify(raw, S.lookup(p.issuer_name, p.serial, trust_store()))
    # The reversed RDN sequence is a different DN: the lookup fails.
    reversed_ = dcc(BASE).read_bytes().replace(b"CN=Z1,OU=07", b"OU=07,CN=Z1")
    p = in_profile(reversed_)
    with pytest.raises(S.CertificateMismatchError):
        S.lookup(p.issuer_name, p.serial, trust_store())


# --------------------------------------------------------------------------- xmldsig vectors

def _xmldsig(name: str) -> Path:
    return vector("xmldsig", *name.split("/"))


def test_xmlsec_enveloped_inclusive_sample_is_refused_by_the_profile_not_the_crypto():
    path = _xmldsig("xmlsec/enveloped-sha256-ecdsa-sha256.xml")
    tree = safe.parse_file(path)
    with pytest.raises(S.ProfileError, match="CanonicalizationMethod Algorithm is "
                                             "'http://www.w3.org/TR/2001/REC-xml-c14n-20010315'"):
        S.check_profile(tree)
    # Its second violation, the XPath transform, once the c14n is patched:
    patched = copy.deepcopy(tree)
    patched.find(".//{%s}CanonicalizationMethod" % DS).set("Algorithm", S.EXC_C14N)
    with pytest.raises(S.ProfileError, match="exactly one ds:Transform.*found 2"):
        S.check_profile(patched)
    # The signature itself is cryptographically fine under plain xmlsec.
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_file(str(_xmldsig("xmlsec/ec-prime256v1-pubkey.pem")),
                                   xmlsec.constants.KeyDataFormatPem)
    ctx.verify(tree.getroot().find("{%s}Signature" % DS))


def _signature_value_of(path: Path) -> bytes:
    sv = safe.parse_file(path).getroot().find(".//{%s}SignatureValue" % DS)
    return base64.b64decode("".join(sv.text.split()))


def test_xmlsec_der_sample_is_refused_and_its_value_is_recognised_as_der():
    path = _xmldsig("xmlsec/enveloped-sha256-ecdsa-sha256-with-asn1.xml")
    with pytest.raises(S.ProfileError):
        S.check_profile(safe.parse_file(path))
    der = _signature_value_of(path)
    assert len(der) == 71
    profile_rejects(_set_signature_value(der), "71 bytes, not 64", "DER")


def test_xmlsec_padded_sample_is_refused_and_its_value_is_recognised_as_padded():
    path = _xmldsig("xmlsec/enveloping-sha256-ecdsa-sha256_padded.xml")
    with pytest.raises(S.ProfileError, match="enveloping"):
        S.check_profile(safe.parse_file(path))
    padded = _signature_value_of(path)
    assert len(padded) == 66
    profile_rejects(_set_signature_value(padded), "66 bytes", "zero-padded")


def test_xmlsec_embedded_certificate_sample_is_refused():
    path = _xmldsig("xmlsec/enveloping-sha256-ecdsa-sha256.xml")
    tree = safe.parse_file(path)
    with pytest.raises(S.ProfileError, match="enveloping"):
        S.check_profile(tree)
    # Its KeyInfo content transplanted into a DCC file: refused by the gate.
    embedded = tree.getroot().find(".//{%s}X509Certificate" % DS)
    def edit(root, sig):
        sig.find("ds:KeyInfo/ds:X509Data", NS).append(copy.deepcopy(embedded))
    profile_rejects(mutated(edit), "not allowed: ds:X509Certificate")


@pytest.mark.parametrize("name", ["w3c-xmldsig11-interop-2012/signature-enveloping-p256_sha256.xml",
                                  "w3c-xmldsig11-interop-2012/signature-enveloping-p256_sha256_4050.xml"])
def test_w3c_enveloping_samples_are_refused(name):
    path = _xmldsig(name)
    tree = safe.parse_file(path)
    with pytest.raises(S.ProfileError, match="enveloping"):
        S.check_profile(tree)
    key_value = tree.getroot().find(".//{%s}KeyValue" % DS)
    def edit(root, sig):
        sig.find("ds:KeyInfo", NS).append(copy.deepcopy(key_value))
    profile_rejects(mutated(edit), "not allowed: ds:KeyValue")


def test_w3c_raw_rs_value_passes_the_gate_and_fails_the_crypto():
    """A well-formed 64-byte r||s from another document is judged by the crypto step."""
    raw = _signature_value_of(_xmldsig("w3c-xmldsig11-interop-2012/signature-enveloping-p256_sha256.xml"))
    assert len(raw) == 64
    crypto_rejects(_set_signature_value(raw), "signature-value")


# --------------------------------------------------------------------------- issuer names

@pytest.mark.parametrize("text", ["CN=Z1,OU=07", "CN=Z1, OU=07", " CN = Z1 ,OU=07 ",
                                  "cn=Z1,ou=07", "CN=Z1;OU=07", "OID.2.5.4.3=Z1,2.5.4.11=07",
                                  'CN="Z1",OU=07', "CN=z1,OU=07"])
def test_parse_issuer_name_forms(text):
    z1 = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Z1")])
    assert S.names_match(S.parse_issuer_name(text), z1)


def test_parse_issuer_name_order_and_errors():
    assert S.parse_issuer_name("CN=Z1,OU=07").rfc4514_string() == "CN=Z1,OU=07"
    assert not S.names_match(S.parse_issuer_name("OU=07,CN=Z1"), S.parse_issuer_name("CN=Z1,OU=07"))
    assert S.parse_issuer_name('CN="a, b",OU=07').get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value == "a, b"
    for bad in ["", "Z1", "FOO=1", 'CN="x', "CN=Z1,,OU=07"]:
        with pytest.raises(InputError):
            S.parse_issuer_name(bad)


def test_issuer_dn_matches_across_string_encodings():
    """Z1 is PrintableString in the 2015 certificates and UTF8String in xml-sign ones:
    different DER, same DN."""
    a, b = cert("Z1-supplier-ds"), cert("xml-sign-90B3D51F30010000-ds")
    assert a.issuer.public_bytes() != b.issuer.public_bytes()
    assert S.names_match(a.issuer, b.issuer)
    assert S.names_match(S.parse_issuer_name("CN=Z1, OU=07"), a.issuer)


def test_lookup_is_by_issuer_and_serial():
    c = cert("Z1-supplier-ds")
    assert S.lookup("CN=Z1,OU=07", c.serial_number, trust_store()) == c
    with pytest.raises(S.CertificateMismatchError):
        S.lookup("CN=Z99,OU=07", c.serial_number, trust_store())
    # The same key under two serials (dSPXmlSign re-issue): only the serial decides.
    old, new = cert("dsp-xml-sign-90B3D51F30000002-ds"), cert("Z1-accessControlBroker-dSPXmlSign")
    assert old.public_key() == new.public_key()
    assert S.lookup("CN=Z1,OU=07", new.serial_number, trust_store()) == new
    # Duplicates of the same certificate are one certificate; distinct ones are ambiguous.
    assert S.lookup("CN=Z1,OU=07", c.serial_number, [c, c]) == c
    (_, twin1), (_, twin2) = _ca_and_cert(serial=42), _ca_and_cert(serial=42)
    with pytest.raises(S.CertificateMismatchError, match="2 different certificates"):
        S.lookup("CN=Z1,OU=07", 42, [twin1, twin2])


# --------------------------------------------------------------------------- signing

def _ca_and_cert(serial: int | None = None):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "Z1")])
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "87")])
    now = datetime.datetime.now(datetime.timezone.utc)
    c = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .sign(ca_key, hashes.SHA256()))
    return key, c


TMAD_LIKE = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<m:MigrationCommon xmlns:m="urn:example:tmad" xmlns:unused="urn:unused">\n'
             b'  <m:Header><m:RequestingPartyID>90-B3-D5-1F-30-01-00-00</m:RequestingPartyID>'
             b'</m:Header>\n  <m:Body a="1">caf\xc3\xa9 &amp; more</m:Body>\n'
             b'</m:MigrationCommon>\n')


def _assert_profile_shape(signed: bytes, certificate: x509.Certificate):
    tree = safe.parse_bytes(signed)
    root = tree.getroot()
    sig = root[-1]
    assert sig.tag == f"{{{DS}}}Signature" and sig.prefix == "ds"
    p = S.check_profile(tree)
    assert p.issuer_name == certificate.issuer.rfc4514_string() == "CN=Z1,OU=07"
    assert p.serial == certificate.serial_number
    assert len(p.signature_value) == 64
    return p


def test_sign_verify_round_trip_with_fresh_key():
    key, c = _ca_and_cert()
    tree = safe.parse_bytes(TMAD_LIKE)
    before = serialise(tree)
    signed = S.sign(tree, key, c)
    assert serialise(tree) == before                # the caller's tree is unchanged
    _assert_profile_shape(signed, c)
    result = S.verify(signed, S.lookup("CN=Z1,OU=07", c.serial_number, [c]))
    assert result.root.find("{urn:example:tmad}Body").text == "caf\u00e9 & more"
    # Tampering after signing is caught.
    crypto_rejects_with(signed.replace(b"caf\xc3\xa9", b"cafe"), c, "digest")


def crypto_rejects_with(data: bytes, certificate, reason: str):
    with pytest.raises(S.VerificationFailed) as info:
        S.verify(data, certificate)
    assert info.value.reason == reason


def test_sign_refuses_wrong_key_and_signed_input():
    key, c = _ca_and_cert()
    other, _ = _ca_and_cert()
    with pytest.raises(InputError, match="does not belong"):
        S.sign(safe.parse_bytes(TMAD_LIKE), other, c)
    signed = S.sign(safe.parse_bytes(TMAD_LIKE), key, c)
    with pytest.raises(InputError, match="already contains"):
        S.sign(safe.parse_bytes(signed), key, c)


def test_sign_with_dcc_key_reproduces_the_dcc_digest():
    """Re-sign a DCC document with the key that signed it: same content, so the
    same DigestValue as Java/Santuario computed (the ECDSA value differs: random k).
    The root binds the dsig namespace to "ns3"; the output still uses "ds:"."""
    tree = safe.parse_file(dcc(BASE))
    original = S.check_profile(tree)
    tree.getroot().remove(original.element)
    c = cert(BASE_CERT)
    signed = S.sign(tree, dcc_key(BASE_CERT), c)
    p = _assert_profile_shape(signed, c)
    assert p.digest_value == original.digest_value
    assert S.verify(signed, S.lookup(p.issuer_name, p.serial, trust_store()))


@pytest.mark.parametrize("name", ["xml-sign-90B3D51F30010000-ds", "Z1-accessControlBroker-dSPXmlSign"])
def test_sign_verify_round_trip_with_dcc_keys(name):
    c = cert(name)
    signed = S.sign(safe.parse_bytes(TMAD_LIKE), dcc_key(name), c)
    p = _assert_profile_shape(signed, c)
    assert S.lookup(p.issuer_name, p.serial, trust_store()) == c
    assert S.verify(signed, c)


# --------------------------------------------------------------------------- xmlsec1 interop

XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.skipif(
    XMLSEC1 is None, reason="xmlsec1 command-line tool not installed (Debian package xmlsec1)")

# --enabled-key-data key-name: xmlsec1 ignores X509Data in KeyInfo (it would try to
# build a chain from it) and uses the key given with --pubkey-cert-pem.
# --enabled-reference-uris empty: only URI="" references, as in the profile.
VERIFY_ARGS = ["--verify", "--enabled-key-data", "key-name", "--enabled-reference-uris", "empty"]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([XMLSEC1, *args], capture_output=True, text=True, timeout=60)


def xmlsec1_verify(xml: Path, cert_pem: Path) -> subprocess.CompletedProcess:
    return _run([*VERIFY_ARGS, "--pubkey-cert-pem", str(cert_pem), str(xml)])


def _write_pem(tmp_path: Path, key, c) -> tuple[Path, Path]:
    key_pem, cert_pem = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    cert_pem.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    return key_pem, cert_pem


@needs_xmlsec1
@pytest.mark.parametrize("signer", ["fresh", "xml-sign-90B3D51F30010000-ds"])
def test_tmadkit_signed_file_verifies_in_xmlsec1(tmp_path, signer):
    key, c = _ca_and_cert() if signer == "fresh" else (dcc_key(signer), cert(signer))
    _, cert_pem = _write_pem(tmp_path, key, c)
    signed = tmp_path / "signed.xml"
    signed.write_bytes(S.sign(safe.parse_bytes(TMAD_LIKE), key, c))
    ok = xmlsec1_verify(signed, cert_pem)
    assert ok.returncode == 0 and "OK" in ok.stderr, ok.stderr
    # The command really checks: a tampered copy fails.
    bad = tmp_path / "tampered.xml"
    bad.write_bytes(signed.read_bytes().replace(b"caf\xc3\xa9", b"cafe"))
    assert xmlsec1_verify(bad, cert_pem).returncode != 0


def _template(issuer_serial: bytes) -> bytes:
    return TMAD_LIKE.replace(b"</m:MigrationCommon>", (
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
        b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        b'<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>'
        b'<ds:Reference URI=""><ds:Transforms>'
        b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        b'</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        b'<ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/>'
        b'<ds:KeyInfo><ds:X509Data>' + issuer_serial + b'</ds:X509Data></ds:KeyInfo>'
        b'</ds:Signature></m:MigrationCommon>'))


@needs_xmlsec1
def test_xmlsec1_signed_file_verifies_in_tmadkit(tmp_path):
    """Template with X509IssuerSerial filled in; key-name only, so xmlsec1 leaves
    KeyInfo exactly as written."""
    key, c = _ca_and_cert()
    key_pem, cert_pem = _write_pem(tmp_path, key, c)
    tpl, out = tmp_path / "template.xml", tmp_path / "signed.xml"
    tpl.write_bytes(_template(
        b"<ds:X509IssuerSerial><ds:X509IssuerName>" + c.issuer.rfc4514_string().encode() +
        b"</ds:X509IssuerName><ds:X509SerialNumber>" + str(c.serial_number).encode() +
        b"</ds:X509SerialNumber></ds:X509IssuerSerial>"))
    run = _run(["--sign", "--enabled-key-data", "key-name", "--privkey-pem", str(key_pem),
                "--output", str(out), str(tpl)])
    assert run.returncode == 0, run.stderr
    p = S.check_profile(safe.parse_file(out))
    assert S.verify(out.read_bytes(), S.lookup(p.issuer_name, p.serial, [c])).serial == c.serial_number
    assert xmlsec1_verify(out, cert_pem).returncode == 0


@needs_xmlsec1
def test_xmlsec1_fills_issuer_serial_from_the_certificate(tmp_path):
    """Empty <ds:X509IssuerSerial/>: xmlsec1 writes issuer and serial from the
    certificate given after the key.  The result is still in the profile."""
    key, c = dcc_key("xml-sign-90B3D51F30010000-ds"), cert("xml-sign-90B3D51F30010000-ds")
    key_pem, cert_pem = _write_pem(tmp_path, key, c)
    tpl, out = tmp_path / "template.xml", tmp_path / "signed.xml"
    tpl.write_bytes(_template(b"<ds:X509IssuerSerial/>"))
    run = _run(["--sign", "--privkey-pem", f"{key_pem},{cert_pem}", "--output", str(out), str(tpl)])
    assert run.returncode == 0, run.stderr
    p = S.check_profile(safe.parse_file(out))
    assert S.names_match(p.issuer, c.issuer) and p.serial == c.serial_number
    assert S.verify(out.read_bytes(), S.lookup(p.issuer_name, p.serial, trust_store()))


@needs_xmlsec1
@pytest.mark.parametrize("rel", POSITIVES)
def test_xmlsec1_agrees_on_dcc_positives(rel):
    assert xmlsec1_verify(dcc(rel), dcc(expected()[rel]["cert_by_serial"])).returncode == 0


@needs_xmlsec1
def test_xmlsec1_agrees_on_dcc_badsignature():
    rel = "signing-tool/samples/readfw-response-badsignature.xml"
    assert xmlsec1_verify(dcc(rel), dcc(expected()[rel]["cert_by_serial"])).returncode != 0
