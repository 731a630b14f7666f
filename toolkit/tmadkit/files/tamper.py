"""Hostile and invalid variants of a signed migration file, for authentication tests
(TMAD Table 5.9 steps 5.9.1 "well formed / valid against the schema" and 5.9.2 "Check
Cryptographic Protection"; the signature profile of Table 10.1).

Each operation is a real change to the bytes of a signed file, made after signing (so
the signature is *not* recomputed) except ``schema-invalid``, which re-signs.  The
description of each operation says where a correct Authenticator rejects the result;
``tests/test_file_builder.py`` holds tmadkit's own parser, schema and signature code to
exactly that.

* :func:`tamper` ``(content, op, *, pki=None)``.  ``schema-invalid`` needs the PKI the
  file was signed with (``pki=``): it re-signs with the key whose certificate KeyInfo
  names.
* :func:`resign_with` ``(content, pki, signer, edit)`` for any other edit that must
  carry a valid signature: strip the signature, ``edit(root)``, sign again.

Structural edits go through lxml (parsed with comments kept and re-serialised, which
leaves the canonical form, and so the digest, of untouched content as it was); edits
that no XML tree can carry (DOCTYPE, entity references, invalid UTF-8, truncation,
a comment inside a text node) are made on the bytes.
"""
from __future__ import annotations

import base64
import copy
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

from ..errors import InputError
from ..smki.pki import Entry, Pki
from ..xml import safe, signature
from ..xml.schema import NAMESPACE
from ..xml.signature import DSIG_NS, EXC_C14N

TAMPER_OPS: dict[str, str] = {
    "flip-digest-byte": "one character of RequestingPartyID changed after signing: schema-valid, "
                        "signature fails on the Reference digest (5.9.2)",
    "flip-signature-byte": "one bit of SignatureValue flipped: fails verifying SignatureValue "
                           "over SignedInfo (5.9.2)",
    "strip-signature": "ds:Signature removed: schema-invalid and refused by the profile gate "
                       "as unsigned",
    "second-signature": "a copy of ds:Signature appended: the profile gate refuses two signatures",
    "signature-not-last": "ds:Signature moved before the last SMETS1Installation: the profile "
                          "gate refuses it (and the schema)",
    "add-doctype": "a DOCTYPE with an internal entity declared: the parser refuses any DOCTYPE (5.9.1)",
    "xxe": "a DOCTYPE with an external entity (file:///etc/passwd) used in RequestingPartyID: "
           "refused at the DOCTYPE, nothing is read",
    "billion-laughs": "nested entity expansion (billion laughs) used in RequestingPartyID: "
                      "refused at the DOCTYPE, nothing is expanded",
    "der-signature-value": "SignatureValue re-encoded from r||s to DER: the profile gate refuses "
                           "it (72-ish bytes, ASN.1 SEQUENCE)",
    "extra-transform": "a second ds:Transform (exc-c14n) in the Reference: the profile gate "
                       "allows only enveloped-signature",
    "reference-uri": 'Reference URI="#x": the profile gate allows only URI=""',
    "add-object": "a ds:Object appended inside ds:Signature: the profile gate refuses it",
    "keyinfo-certificate": "a ds:X509Certificate added to KeyInfo/X509Data: the profile gate "
                           "allows X509IssuerSerial only (Table 10.1 KeyInfo)",
    "keyinfo-unknown-serial": "X509SerialNumber in KeyInfo changed (KeyInfo is unsigned): the "
                              "signature still verifies under the real key, but no certificate "
                              "has that Certificate ID, so the look-up fails",
    "comment-in-signed-text": "<!--x--> inserted inside RequestingPartyID's text: comments are not "
                              "signed, so XMLDSig still verifies (a reader must see the whole "
                              "value); tmadkit's 5.9.2 check refuses any comment in a signed file",
    "truncate": "the file cut in half: not well-formed, reported as truncated (5.9.1)",
    "not-utf8": "an invalid UTF-8 byte (0xFF) in RequestingPartyID's text: refused as not UTF-8 (5.9.1)",
    "wrong-root": "root element renamed to one no file type has (MigrationCommon -> "
                  "MigrationCommonFile; not re-signed): not a Table 10.2 structure (5.9.1), and "
                  "the digest fails",
    "schema-invalid": "MCF: ImportMPAN cut to 12 digits; other types: CHFIdentifier cut to 7 "
                      "octets; then RE-SIGNED (needs pki=): signature valid, schema step fails",
}

_HEADER_TEXT = re.compile(rb"(<(?:[A-Za-z_][\w.-]*:)?RequestingPartyID>)([^<]+)(<)")
_XML_DECL = re.compile(rb"\A(?:\xef\xbb\xbf)?<\?xml[^?]*\?>")


def _ds(local: str) -> str:
    return f"{{{DSIG_NS}}}{local}"


def _m(local: str) -> str:
    return f"{{{NAMESPACE}}}{local}"


# --------------------------------------------------------------------------- helpers

def _tree(content: bytes) -> etree._ElementTree:
    # Comments kept so that a tampered copy differs only where the operation says.
    return safe.parse_bytes(content, keep_comments=True)


def _bytes(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _signature(root: etree._Element) -> etree._Element:
    sig = root.find(_ds("Signature"))
    if sig is None:
        raise InputError("the file has no ds:Signature to tamper with")
    return sig


def _header_text(content: bytes) -> re.Match:
    m = _HEADER_TEXT.search(content)
    if m is None:
        raise InputError("the file has no RequestingPartyID text to tamper with")
    return m


def _after_declaration(content: bytes) -> int:
    m = _XML_DECL.match(content)
    return m.end() if m else 0


def _root_name(content: bytes) -> str:
    return etree.QName(_tree(content).getroot()).localname


def _remove(el: etree._Element) -> None:
    """Remove an element, keeping its tail text with the document."""
    parent, prev = el.getparent(), el.getprevious()
    if el.tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _edit_tree(content: bytes, edit: Callable[[etree._Element], None]) -> bytes:
    tree = _tree(content)
    edit(tree.getroot())
    return _bytes(tree)


@lru_cache(maxsize=1)
def _throwaway_certificate_b64() -> str:
    # A real certificate, but one no PKI knows: the gate must refuse it by shape alone.
    key = ec.derive_private_key(0x7A3D, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tmadkit tamper keyinfo-certificate")])
    t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(0x7A3D)
            .not_valid_before(t).not_valid_after(t.replace(year=2044))
            .sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


# --------------------------------------------------------------------------- operations

def _flip_digest_byte(content: bytes) -> bytes:
    m = _header_text(content)
    value = m.group(2)
    last = value[-1:]
    # Another hex digit in the same place: the EUI-64 stays schema-valid.
    new = b"1" if last == b"0" else b"0"
    return content[:m.start(2)] + value[:-1] + new + content[m.end(2):]


def _flip_signature_byte(root: etree._Element) -> None:
    sv = _signature(root).find(_ds("SignatureValue"))
    raw = bytearray(base64.b64decode(re.sub(r"\s+", "", sv.text or "")))
    raw[-1] ^= 0x01
    sv.text = base64.b64encode(bytes(raw)).decode("ascii")


def _strip_signature(root: etree._Element) -> None:
    _remove(_signature(root))


def _second_signature(root: etree._Element) -> None:
    sig = _signature(root)
    sig.addnext(copy.deepcopy(sig))


def _signature_not_last(root: etree._Element) -> None:
    sig = _signature(root)
    others = [el for el in root if isinstance(el.tag, str) and el is not sig]
    target = others[-1]
    tail = sig.tail
    _remove(sig)
    sig.tail = tail or "\n  "
    target.addprevious(sig)


def _doctype(content: bytes, internal_subset: bytes, replacement: bytes | None) -> bytes:
    root = _root_name(content).encode()
    at = _after_declaration(content)
    doctype = b"\n<!DOCTYPE " + root + b" [\n" + internal_subset + b"]>"
    out = content[:at] + doctype + content[at:]
    if replacement is not None:
        m = _header_text(out)
        out = out[:m.start(2)] + replacement + out[m.end(2):]
    return out


def _add_doctype(content: bytes) -> bytes:
    return _doctype(content, b'  <!ENTITY tmadkit "internal entity">\n', None)


def _xxe(content: bytes) -> bytes:
    return _doctype(content, b'  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n', b"&xxe;")


def _billion_laughs(content: bytes) -> bytes:
    lines = [b'  <!ENTITY lol "lol">\n']
    prev = b"lol"
    for i in range(1, 10):
        name = b"lol%d" % i
        lines.append(b'  <!ENTITY ' + name + b' "' + (b"&" + prev + b";") * 10 + b'">\n')
        prev = name
    return _doctype(content, b"".join(lines), b"&lol9;")


def _der_signature_value(root: etree._Element) -> None:
    sv = _signature(root).find(_ds("SignatureValue"))
    raw = base64.b64decode(re.sub(r"\s+", "", sv.text or ""))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    sv.text = base64.b64encode(encode_dss_signature(r, s)).decode("ascii")


def _extra_transform(root: etree._Element) -> None:
    transforms = _signature(root).find(f"{_ds('SignedInfo')}/{_ds('Reference')}/{_ds('Transforms')}")
    t = etree.SubElement(transforms, _ds("Transform"))
    t.set("Algorithm", EXC_C14N)
    t.tail = transforms[-2].tail
    transforms[-2].tail = transforms.text


def _reference_uri(root: etree._Element) -> None:
    _signature(root).find(f"{_ds('SignedInfo')}/{_ds('Reference')}").set("URI", "#x")


def _add_object(root: etree._Element) -> None:
    sig = _signature(root)
    obj = etree.SubElement(sig, _ds("Object"))
    obj.text = "tmadkit"
    obj.tail, sig[-2].tail = sig[-2].tail, "\n"


def _keyinfo_certificate(root: etree._Element) -> None:
    x509_data = _signature(root).find(f"{_ds('KeyInfo')}/{_ds('X509Data')}")
    cert = etree.SubElement(x509_data, _ds("X509Certificate"))
    cert.text = _throwaway_certificate_b64()
    cert.tail, x509_data[-2].tail = x509_data[-2].tail, "\n"


def _keyinfo_unknown_serial(root: etree._Element) -> None:
    serial = _signature(root).find(
        f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509IssuerSerial')}/{_ds('X509SerialNumber')}")
    serial.text = str(int(serial.text.strip()) + 1)


def _comment_in_signed_text(content: bytes) -> bytes:
    m = _header_text(content)
    value = m.group(2)
    cut = len(value) // 2
    return content[:m.start(2)] + value[:cut] + b"<!--x-->" + value[cut:] + content[m.end(2):]


def _truncate(content: bytes) -> bytes:
    return content[:len(content) // 2]


def _not_utf8(content: bytes) -> bytes:
    m = _header_text(content)
    return content[:m.start(2)] + b"\xff" + content[m.start(2) + 1:]


def _wrong_root(root: etree._Element) -> None:
    # Same namespace, a name no Table 10.2 structure has (as tests/data/migration/
    # invalid-wrong-root.xml): the schema cannot even pick a content model.
    q = etree.QName(root)
    root.tag = etree.QName(q.namespace, q.localname + "File").text


_BYTE_OPS: dict[str, Callable[[bytes], bytes]] = {
    "flip-digest-byte": _flip_digest_byte,
    "add-doctype": _add_doctype,
    "xxe": _xxe,
    "billion-laughs": _billion_laughs,
    "comment-in-signed-text": _comment_in_signed_text,
    "truncate": _truncate,
    "not-utf8": _not_utf8,
}
_TREE_OPS: dict[str, Callable[[etree._Element], None]] = {
    "flip-signature-byte": _flip_signature_byte,
    "strip-signature": _strip_signature,
    "second-signature": _second_signature,
    "signature-not-last": _signature_not_last,
    "der-signature-value": _der_signature_value,
    "extra-transform": _extra_transform,
    "reference-uri": _reference_uri,
    "add-object": _add_object,
    "keyinfo-certificate": _keyinfo_certificate,
    "keyinfo-unknown-serial": _keyinfo_unknown_serial,
    "wrong-root": _wrong_root,
}
RESIGN_OPS = ("schema-invalid",)
assert set(_BYTE_OPS) | set(_TREE_OPS) | set(RESIGN_OPS) == set(TAMPER_OPS)


# --------------------------------------------------------------------------- re-signing

def signer_of(content: bytes, pki: Pki) -> Entry:
    """The PKI entry whose Certificate ID the file's KeyInfo names."""
    profile = signature.check_profile(_tree(content))
    for e in pki.entries:
        if e.cert_id.serial == profile.serial and signature.names_match(e.cert_id.issuer, profile.issuer):
            return e
    raise InputError(f"no entry of the test PKI in {pki.dir} has the Certificate ID in KeyInfo "
                     f"({profile.issuer_name} #{profile.serial})")


def resign_with(content: bytes, pki: Pki, signer: str | None,
                edit: Callable[[etree._Element], None]) -> bytes:
    """Strip the signature, apply ``edit(root)`` and sign again with PKI entry ``signer``
    (None: the entry KeyInfo names).  The result verifies whatever ``edit`` did, so a
    content error reaches the checks after 5.9.2 instead of failing the signature."""
    entry = pki.entry(signer) if signer is not None else signer_of(content, pki)
    tree = safe.parse_bytes(content)            # comments dropped: they are not signed anyway
    root = tree.getroot()
    _remove(_signature(root))
    edit(root)
    key, cert = entry.signer()
    return signature.sign(root, key, cert)


def _schema_invalid_edit(root: etree._Element) -> None:
    mpan = root.find(f".//{_m('ImportMPAN')}")
    if mpan is not None:
        mpan.text = mpan.text.strip()[:12]                   # MPAN is exactly 13 (README: DUIS sr:MPAN)
        return
    chf = root.find(f".//{_m('CHFIdentifier')}")
    if chf is None:
        raise InputError("the file has neither ImportMPAN nor CHFIdentifier to make invalid")
    chf.text = chf.text.strip().rsplit("-", 1)[0]            # 7 octets: not an EUI-64


# --------------------------------------------------------------------------- API

def tamper(content: bytes, op: str, *, pki: Pki | None = None) -> bytes:
    """``content`` (a signed migration file) changed by operation ``op`` (see TAMPER_OPS)."""
    if op not in TAMPER_OPS:
        raise ValueError(f"unknown tamper operation {op!r}; known: {', '.join(TAMPER_OPS)}")
    if op in _BYTE_OPS:
        return _BYTE_OPS[op](content)
    if op in _TREE_OPS:
        return _edit_tree(content, _TREE_OPS[op])
    if pki is None:
        raise ValueError(f"{op} re-signs the file: pass the PKI it was signed with (pki=)")
    return resign_with(content, pki, None, _schema_invalid_edit)
