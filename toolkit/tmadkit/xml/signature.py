"""The TMAD XML signature profile (TMAD Table 10.1 "Signature" and "KeyInfo" rows,
Clause 5.5; checked at Table 5.9 step 5.9.2).

Profile: one enveloped ds:Signature, the last child of the root element, with

    SignedInfo/CanonicalizationMethod  http://www.w3.org/2001/10/xml-exc-c14n#
    SignedInfo/SignatureMethod         http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256
    one Reference URI=""  with one Transform  ...xmldsig#enveloped-signature
                          and DigestMethod    http://www.w3.org/2001/04/xmlenc#sha256
    SignatureValue  base64 of 64 bytes, r||s (XMLDSig 1.1 §6.4.3; not DER)
    KeyInfo/X509Data/X509IssuerSerial  (X509IssuerName, X509SerialNumber), nothing else.

Three stages, in this order, each with its own error:

1. ``check_profile`` - a structural gate before any cryptography.  Neither xmlsec
   nor signxml enforces the profile (signxml silently skips unknown transforms;
   xmlsec accepts any Reference URI and extra ds:Object), so everything inside
   ds:Signature is checked element by element and anything else is refused.
2. The caller resolves the certificate from (X509IssuerName, X509SerialNumber)
   in its own trust store (``lookup``).  KeyInfo is *not signed*: changing the
   serial or the issuer leaves the signature valid, so KeyInfo is only ever an
   index into our own certificates, never a source of keys.
3. ``verify`` - python-xmlsec with algorithm whitelists and KeyInfo processing
   switched off, the key taken from that certificate.

Why the Reference digest is *inclusive* C14N 1.0 although the profile names
exc-c14n: CanonicalizationMethod applies to SignedInfo only.  The Reference has
just the enveloped-signature transform, whose output is a node-set, and XMLDSig
§4.4.3.2 says a node-set is turned into octets with inclusive Canonical XML 1.0
(without comments).  The DCC samples prove it: their roots declare unused
``xmlns:ns3``/``xmlns:ra`` namespaces that exc-c14n would drop; only inclusive
C14N reproduces their DigestValue.  libxmlsec1 does this correctly, so the
digest is never computed here by hand.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Iterable

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from ..errors import InputError
from . import safe

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

CLAUSE_CHECK = "TMAD:T5.9/5.9.2"          # "Check Cryptographic Protection"
CLAUSE_SIGNATURE = "TMAD:T10.1/Signature"  # the algorithm/parameter table
CLAUSE_KEYINFO = "TMAD:T10.1/KeyInfo"      # "an X509IssuerSerial element in a single X509Data"

_C = xmlsec.constants
_XML_WS = re.compile(r"[ \t\r\n]+")
_DIGITS = re.compile(r"[0-9]+")
_MAX_SERIAL_DIGITS = 64   # RFC 5280 allows 20 octets (49 digits); leave room, refuse junk


def _ds(local: str) -> str:
    return f"{{{DSIG_NS}}}{local}"


# --------------------------------------------------------------------------- errors

class SignatureError(InputError):
    """A signature problem.  ``stage`` says where it was caught: "profile" (the
    structural gate), "certificate" (certificate given/looked up does not fit),
    "crypto" (xmlsec verification)."""

    stage = "signature"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 clauses: tuple[str, ...] = (CLAUSE_CHECK,)):
        self.clauses = clauses
        super().__init__(message, file=file, line=line, clause="; ".join(clauses))


class ProfileError(SignatureError):
    """The ds:Signature is not in the TMAD profile (caught before any cryptography)."""

    stage = "profile"


class CertificateMismatchError(SignatureError):
    """KeyInfo names no known certificate, several, or not the one supplied."""

    stage = "certificate"


class VerificationFailed(SignatureError):
    """The signature does not verify.  ``reason``: "digest" (signed content changed),
    "signature-value" (SignatureValue does not match SignedInfo under this key),
    "processing" (xmlsec could not process the signature at all)."""

    stage = "crypto"

    def __init__(self, message: str, *, reason: str, **kw):
        self.reason = reason
        super().__init__(message, **kw)


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class SignatureProfile:
    element: etree._Element          # the ds:Signature element
    issuer_name: str                 # X509IssuerName as written (surrounding whitespace removed)
    issuer: x509.Name                # ... parsed, for DN comparison
    serial: int                      # X509SerialNumber
    signature_value: bytes           # 64 bytes, r||s
    digest_value: bytes              # 32 bytes

    @property
    def r(self) -> int:
        return int.from_bytes(self.signature_value[:32], "big")

    @property
    def s(self) -> int:
        return int.from_bytes(self.signature_value[32:], "big")


@dataclass(frozen=True)
class VerifiedSignature:
    profile: SignatureProfile
    certificate: x509.Certificate
    root: etree._Element             # the verified document: read values from this tree

    @property
    def issuer_name(self) -> str:
        return self.profile.issuer_name

    @property
    def serial(self) -> int:
        return self.profile.serial


# --------------------------------------------------------------------------- issuer names

def parse_issuer_name(text: str) -> x509.Name:
    """An X509IssuerName as written in DCC files and DUIS templates (``CN=Z1,OU=07``,
    ``CN=U1, OU=07``), parsed by the toolkit's one DN parser (tmadkit.smki.certificates):
    ``Name.from_rfc4514_string`` is too strict for the forms in the field."""
    from ..smki.certificates import parse_dn

    if not text.strip(" \t\r\n"):
        raise InputError("empty issuer name", clause=CLAUSE_KEYINFO)
    try:
        name = parse_dn(text.strip(" \t\r\n"))
    except (InputError, ValueError) as exc:
        raise InputError(f"X509IssuerName {text!r} is not a distinguished name: "
                         f"{getattr(exc, 'message', exc)}", clause=CLAUSE_KEYINFO) from None
    if not name.rdns:
        raise InputError(f"X509IssuerName {text!r} is not a distinguished name", clause=CLAUSE_KEYINFO)
    return name


def names_match(a: x509.Name, b: x509.Name) -> bool:
    """Distinguished-name equality (RFC 5280 §7.1), not string or DER equality."""
    from ..smki.certificates import dn_equal

    return dn_equal(a, b)


def lookup(issuer: str | x509.Name, serial: int, certs: Iterable[x509.Certificate],
           *, file: str | None = None) -> x509.Certificate:
    """The one certificate in ``certs`` with this (issuer DN, serial): the TMAD
    "Certificate ID".  KeyInfo is unauthenticated, so this is the only way a key
    may be chosen.  Raises CertificateMismatchError if there is none or several."""
    name = parse_issuer_name(issuer) if isinstance(issuer, str) else issuer
    found = {c.fingerprint(hashes.SHA256()): c for c in certs
             if c.serial_number == serial and names_match(c.issuer, name)}
    shown = issuer if isinstance(issuer, str) else issuer.rfc4514_string()
    if not found:
        raise CertificateMismatchError(
            f"no known certificate has issuer {shown!r} and serial {serial}",
            file=file, clauses=(CLAUSE_CHECK, CLAUSE_KEYINFO))
    if len(found) > 1:
        raise CertificateMismatchError(
            f"{len(found)} different certificates have issuer {shown!r} and serial {serial}",
            file=file, clauses=(CLAUSE_CHECK, CLAUSE_KEYINFO))
    return next(iter(found.values()))


# --------------------------------------------------------------------------- profile gate

def _show(el) -> str:
    if not isinstance(el.tag, str):
        return {etree.Comment: "comment", etree.PI: "processing instruction"}.get(el.tag, "node")
    q = etree.QName(el)
    if q.namespace == DSIG_NS:
        return f"ds:{q.localname}"
    return f"{el.prefix}:{q.localname}" if el.prefix else el.tag


class _Gate:
    """Walks ds:Signature; every failure is a ProfileError at the offending line."""

    def __init__(self, file: str | None):
        self.file = file

    def fail(self, el, message: str, clause: str = CLAUSE_SIGNATURE):
        raise ProfileError(message, file=self.file, line=getattr(el, "sourceline", None),
                           clauses=(CLAUSE_CHECK, clause))

    def children(self, el, expected: list[str], clause: str = CLAUSE_SIGNATURE) -> list:
        kids = list(el)
        names = [_show(k) for k in kids]
        wanted = [f"ds:{n}" for n in expected]
        if names != wanted:
            missing = [n for n in wanted if n not in names]
            extra = sorted({n for n in names if n not in wanted})
            detail = "".join([f"; missing {', '.join(missing)}" if missing else "",
                              f"; not allowed: {', '.join(extra)}" if extra else ""])
            self.fail(el, f"{_show(el)} must contain exactly ({', '.join(wanted)}) in that "
                          f"order; found ({', '.join(names) or 'nothing'}){detail}", clause)
        for node in (el.text, *(k.tail for k in kids)):
            if node and node.strip(" \t\r\n"):
                self.fail(el, f"{_show(el)} contains text {node.strip()[:40]!r}", clause)
        return kids

    def attributes(self, el, allowed: tuple[str, ...] = (), clause: str = CLAUSE_SIGNATURE):
        extra = [a for a in el.attrib if a not in allowed]
        if extra:
            self.fail(el, f"{_show(el)} has attribute(s) {', '.join(extra)} not allowed "
                          f"by the profile", clause)

    def algorithm(self, el, required: str):
        self.attributes(el, ("Algorithm",))
        self.children(el, [])
        alg = el.get("Algorithm")
        if alg != required:
            self.fail(el, f"{_show(el)} Algorithm is {alg!r}; the profile requires {required!r}")

    def leaf(self, el, clause: str = CLAUSE_SIGNATURE) -> str:
        self.attributes(el, (), clause)
        if len(el):
            self.fail(el, f"{_show(el)} must contain only text; found {_show(el[0])}", clause)
        return el.text or ""

    def base64(self, el, what: str) -> bytes:
        text = _XML_WS.sub("", self.leaf(el))   # Java wraps with "&#13;\n": XML whitespace
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self.fail(el, f"{what} is not valid base64")


def _root_of(doc) -> etree._Element:
    if isinstance(doc, etree._ElementTree):
        return doc.getroot()
    if isinstance(doc, etree._Element):
        return doc
    raise TypeError(f"expected an lxml tree or element, got {type(doc).__name__}")


def _file_of(root: etree._Element) -> str | None:
    return root.getroottree().docinfo.URL


# Every ds:Signature at or below the element: an XPath, not root.iter(), because libxml2
# evaluates it without the GIL (a 400 MB file is scanned while Table 5.10 runs in Python).
_SIGNATURES = etree.XPath("descendant-or-self::ds:Signature", namespaces={"ds": DSIG_NS})


def check_profile(doc, *, file: str | None = None) -> SignatureProfile:
    """Structural gate: the one ds:Signature is in the TMAD profile, nothing more.

    Runs before any cryptography, so a non-conforming signature is reported for
    what it is (e.g. "DER-encoded SignatureValue") rather than as a crypto failure,
    and no library ever sees transforms, URIs or KeyInfo forms outside the profile.
    """
    root = _root_of(doc)
    g = _Gate(file or _file_of(root))

    sigs = _SIGNATURES(root)
    if not sigs:
        g.fail(root, "the file has no ds:Signature (it is unsigned)")
    if len(sigs) > 1:
        lines = ", ".join(str(s.sourceline) for s in sigs)
        g.fail(sigs[1], f"{len(sigs)} ds:Signature elements (lines {lines}); exactly one "
                        f"is allowed")
    sig = sigs[0]
    if sig is root:
        g.fail(sig, "ds:Signature is the root element (an enveloping signature); the "
                    "profile requires an enveloped signature, the last child of the root")
    if sig.getparent() is not root:
        g.fail(sig, f"ds:Signature must be a child of the root element; it is inside "
                    f"{_show(sig.getparent())}")
    last = next((k for k in reversed(root) if isinstance(k.tag, str)), None)
    if last is not sig:
        g.fail(last, f"ds:Signature must be the last element of the root; {_show(last)} "
                     f"follows it")
    for node in sig.iter():
        if not isinstance(node.tag, str):
            g.fail(node, f"{_show(node)} inside ds:Signature is not allowed")

    g.attributes(sig)
    signed_info, sig_value, key_info = g.children(sig, ["SignedInfo", "SignatureValue", "KeyInfo"])

    g.attributes(signed_info)
    c14n, sig_method, ref = g.children(signed_info,
                                       ["CanonicalizationMethod", "SignatureMethod", "Reference"])
    g.algorithm(c14n, EXC_C14N)
    g.algorithm(sig_method, ECDSA_SHA256)

    g.attributes(ref, ("URI",))
    uri = ref.get("URI")
    if uri is None:
        g.fail(ref, 'ds:Reference has no URI attribute; the profile requires URI=""')
    if uri != "":
        g.fail(ref, f'ds:Reference URI={uri!r}; only URI="" (the whole document) is allowed')
    ref_kids = list(ref)
    transforms = ref_kids[0] if ref_kids and _show(ref_kids[0]) == "ds:Transforms" else None
    if transforms is not None:
        g.attributes(transforms)
        tlist = list(transforms)
        if len(tlist) != 1 or _show(tlist[0]) != "ds:Transform":
            algs = [t.get("Algorithm") or _show(t) for t in tlist]
            g.fail(transforms, f"exactly one ds:Transform (enveloped-signature) is allowed; "
                               f"found {len(tlist)}: {algs}")
    _, digest_method, digest_value = g.children(ref, ["Transforms", "DigestMethod", "DigestValue"])
    g.children(transforms, ["Transform"])
    g.algorithm(transforms[0], ENVELOPED)
    g.algorithm(digest_method, SHA256)
    digest = g.base64(digest_value, "ds:DigestValue")
    if len(digest) != 32:
        g.fail(digest_value, f"ds:DigestValue is {len(digest)} bytes; SHA-256 gives 32")

    g.attributes(sig_value)
    raw = g.base64(sig_value, "ds:SignatureValue")
    if len(raw) != 64:
        if raw[:1] == b"\x30" and 8 <= len(raw) <= 72:
            why = "it looks DER-encoded (ASN.1 SEQUENCE); XMLDSig ECDSA values are r||s"
        elif len(raw) == 66:
            why = "r and s look zero-padded to 33 bytes each"
        else:
            why = "P-256 r||s is exactly 64"
        g.fail(sig_value, f"ds:SignatureValue is {len(raw)} bytes, not 64: {why}")

    g.attributes(key_info, (), CLAUSE_KEYINFO)
    (x509_data,) = g.children(key_info, ["X509Data"], CLAUSE_KEYINFO)
    g.attributes(x509_data, (), CLAUSE_KEYINFO)
    (issuer_serial,) = g.children(x509_data, ["X509IssuerSerial"], CLAUSE_KEYINFO)
    g.attributes(issuer_serial, (), CLAUSE_KEYINFO)
    name_el, serial_el = g.children(issuer_serial, ["X509IssuerName", "X509SerialNumber"],
                                    CLAUSE_KEYINFO)
    issuer_name = g.leaf(name_el, CLAUSE_KEYINFO).strip(" \t\r\n")
    try:
        issuer = parse_issuer_name(issuer_name)
    except InputError as exc:
        g.fail(name_el, str(exc.args[0]).split(": ", 1)[-1], CLAUSE_KEYINFO)
    serial_text = g.leaf(serial_el, CLAUSE_KEYINFO).strip(" \t\r\n")
    if not _DIGITS.fullmatch(serial_text) or len(serial_text) > _MAX_SERIAL_DIGITS:
        g.fail(serial_el, f"ds:X509SerialNumber {serial_text[:70]!r} is not a decimal "
                          f"certificate serial number", CLAUSE_KEYINFO)
    serial = int(serial_text)
    if serial == 0:
        g.fail(serial_el, "ds:X509SerialNumber is 0; certificate serials are positive",
               CLAUSE_KEYINFO)

    return SignatureProfile(element=sig, issuer_name=issuer_name, issuer=issuer, serial=serial,
                            signature_value=raw, digest_value=digest)


# --------------------------------------------------------------------------- crypto

def _p256_public_key(certificate: x509.Certificate, file: str | None) -> ec.EllipticCurvePublicKey:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CertificateMismatchError(
            f"certificate serial {certificate.serial_number} does not hold a P-256 key",
            file=file, clauses=(CLAUSE_CHECK, CLAUSE_SIGNATURE))
    return key


def _context(key: xmlsec.Key) -> xmlsec.SignatureContext:
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    # KeyInfo is unsigned: never let xmlsec read a key or certificate from it.
    ctx.set_enabled_key_data([])
    # Whitelists: xmlsec refuses anything else even if the profile gate had a hole.
    # (The implicit node-set -> inclusive C14N step of the Reference is not a
    # declared transform and needs no entry.)
    ctx.enable_reference_transform(_C.TransformEnveloped)
    ctx.enable_reference_transform(_C.TransformSha256)
    ctx.enable_signature_transform(_C.TransformExclC14N)
    ctx.enable_signature_transform(_C.TransformEcdsaSha256)
    return ctx


def _signed_info_verifies(profile: SignatureProfile, key: ec.EllipticCurvePublicKey) -> bool:
    """Diagnosis only (xmlsec has already decided): does SignatureValue match
    exc-c14n(SignedInfo) under this key?  If so, the failure was the Reference digest."""
    signed_info = profile.element.find(_ds("SignedInfo"))
    octets = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    return rs_verifies(key, profile.signature_value, octets)


def rs_verifies(key: ec.EllipticCurvePublicKey, signature_value: bytes, octets: bytes) -> bool:
    """Does an XMLDSig ECDSA-SHA256 SignatureValue (r||s, 32 octets each for P-256: XMLDSig 1.1
    §6.4.3) sign these octets under this key?  Checked against Wycheproof's P1363 vectors."""
    if len(signature_value) != 64:
        return False
    r, s = int.from_bytes(signature_value[:32], "big"), int.from_bytes(signature_value[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), octets, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def _load_root(doc_or_bytes, file: str | None) -> etree._Element:
    if isinstance(doc_or_bytes, (bytes, bytearray, memoryview)):
        return safe.parse_bytes(bytes(doc_or_bytes), file=file).getroot()
    return _root_of(doc_or_bytes)


def verify(doc_or_bytes, certificate: x509.Certificate, *, file: str | None = None,
           require_keyinfo_match: bool = True, profile: SignatureProfile | None = None) -> VerifiedSignature:
    """Check the profile, then verify the signature with ``certificate``'s key.

    ``certificate`` is the one the caller resolved from KeyInfo's (issuer, serial)
    in its trust store (see ``lookup``).  With ``require_keyinfo_match`` (default)
    a certificate whose issuer DN and serial differ from KeyInfo's is refused
    before any cryptography.  This function checks no certificate validity,
    chain or Remote Party Role: those are the caller's steps 5.9.3 and 5.9.4.
    Bytes are parsed with the hardened parser; a tree is used as given.  ``profile``:
    what check_profile already said of this same tree (it is not worked out again).
    """
    root = _load_root(doc_or_bytes, file)
    file = file or _file_of(root)
    if profile is None:
        profile = check_profile(root, file=file)
    elif profile.element.getparent() is not root:
        raise ValueError("the profile given is not that of this document's signature")
    pub = _p256_public_key(certificate, file)
    if require_keyinfo_match and not (certificate.serial_number == profile.serial
                                      and names_match(certificate.issuer, profile.issuer)):
        raise CertificateMismatchError(
            f"KeyInfo names issuer {profile.issuer_name!r} serial {profile.serial}, but the "
            f"certificate supplied is issuer {certificate.issuer.rfc4514_string()!r} serial "
            f"{certificate.serial_number}", file=file, line=profile.element.sourceline,
            clauses=(CLAUSE_CHECK, CLAUSE_KEYINFO))

    pem = pub.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    ctx = _context(xmlsec.Key.from_memory(pem, _C.KeyDataFormatPem))
    where = dict(file=file, line=profile.element.sourceline, clauses=(CLAUSE_CHECK,))
    who = f"certificate issuer {certificate.issuer.rfc4514_string()!r} serial " \
          f"{certificate.serial_number}"
    try:
        ctx.verify(profile.element)
    except xmlsec.VerificationError:
        if _signed_info_verifies(profile, pub):
            raise VerificationFailed(
                "signature invalid: the Reference digest does not match, so the signed "
                "content was changed after signing (SignedInfo and SignatureValue are intact)",
                reason="digest", **where) from None
        raise VerificationFailed(
            f"signature invalid: SignatureValue does not verify over SignedInfo with the key "
            f"of {who} (wrong certificate, or SignedInfo/SignatureValue altered)",
            reason="signature-value", **where) from None
    except xmlsec.Error as exc:
        raise VerificationFailed(f"signature could not be processed: {exc}",
                                 reason="processing", **where) from None
    return VerifiedSignature(profile=profile, certificate=certificate, root=root)


# --------------------------------------------------------------------------- signing

def sign(doc, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> bytes:
    """Sign ``doc`` (an lxml tree or root element, or bytes) in the TMAD profile and
    return the signed document as UTF-8 bytes.

    The ds:Signature is appended as the last child of the root; KeyInfo carries
    X509IssuerSerial: the issuer DN as an RFC 4514 string (``CN=Z1,OU=07``, as the
    DCC files write it) and the serial in decimal.  The caller's tree is left as
    it was.  The result is checked with ``verify`` before it is returned.
    """
    root = _load_root(doc, None)
    if root.getparent() is not None:
        raise TypeError("sign() needs the document's root element")
    if next(root.iter(_ds("Signature")), None) is not None:
        raise InputError("the document already contains a ds:Signature", clause=CLAUSE_CHECK)
    pub = _p256_public_key(certificate, None)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or \
            private_key.public_key().public_numbers() != pub.public_numbers():
        raise InputError("the private key does not belong to the certificate",
                         clause=CLAUSE_CHECK)

    tpl = xmlsec.template.create(root, _C.TransformExclC14N, _C.TransformEcdsaSha256, ns="ds")
    ref = xmlsec.template.add_reference(tpl, _C.TransformSha256, uri="")
    xmlsec.template.add_transform(ref, _C.TransformEnveloped)
    issuer_serial = xmlsec.template.x509_data_add_issuer_serial(
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(tpl)))
    xmlsec.template.x509_issuer_serial_add_issuer_name(issuer_serial,
                                                       certificate.issuer.rfc4514_string())
    xmlsec.template.x509_issuer_serial_add_serial_number(issuer_serial,
                                                         str(certificate.serial_number))
    # lxml re-uses a prefix already bound to the dsig namespace when a node moves
    # into the tree (the DCC roots bind it to "ns3").  So the template's children
    # go under a ds:Signature created in place with its own "ds" declaration.
    sig = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DSIG_NS})
    sig.text = tpl.text
    for child in list(tpl):
        sig.append(child)

    pem = private_key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    ctx = _context(xmlsec.Key.from_memory(pem, _C.KeyDataFormatPem))
    try:
        ctx.sign(sig)
        signed = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    finally:
        root.remove(sig)
    verify(signed, certificate)
    return signed
