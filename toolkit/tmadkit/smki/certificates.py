"""SMKI Organisation Certificates: parsing, Certificate IDs and Entity Identifiers.

What the TMAD needs from a certificate (Clause 2 definitions, Tables 5.5 and 10.1) is
small: its Certificate ID (issuer + serialNumber), its Remote Party Role (subject OU,
two hex digits), its Entity Identifier (subject x500UniqueIdentifier, an EUI-64 in a
BIT STRING), its keyUsage (exactly one of digitalSignature / keyAgreement) and its
validity.  parse() extracts those and *flags* anything non-conformant in `problems`
instead of refusing the certificate: a checker must be able to say "wrong Remote Party
Role" about a certificate with OU=137, which it cannot do if loading it failed.  Only
bytes that are not a certificate at all raise InputError.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from ..errors import InputError
from .roles import role_table

# The Organisation Certificate Policy OID in DCC's ZAZ1 test certificates; device
# certificates carry the Device Certificate Policy OID instead.
ORGANISATION_POLICY_OID = "1.2.826.0.1.8641679.1.2.1.4"
DEVICE_POLICY_OID = "1.2.826.0.1.1800000.1.2.1.4"
HARDWARE_MODULE_NAME_OID = "1.3.6.1.5.5.7.8.4"  # RFC 4108 otherName in device certificates

DIGITAL_SIGNATURE = "digitalSignature"
KEY_AGREEMENT = "keyAgreement"

# ---------------------------------------------------------------- minimal DER reader
# Only what is needed to split a Certificate into tbs / algorithm / signature and to
# read a hardwareModuleName; everything else is left to `cryptography`.


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at pos; ValueError if malformed."""
    if pos + 2 > len(buf):
        raise ValueError("truncated DER")
    tag, length = buf[pos], buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(buf):
            raise ValueError("bad DER length")
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + length > len(buf):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, tlv start, content start, end) of each TLV in buf[start:end]."""
    out, pos = [], start
    while pos < end:
        tag, cstart, cend = _tlv(buf, pos)
        out.append((tag, pos, cstart, cend))
        pos = cend
    return out


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _split_certificate(der: bytes) -> tuple[bytes, bytes, bytes]:
    """(tbsCertificate TLV, signatureAlgorithm TLV, signature value) of a Certificate."""
    tag, start, end = _tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a DER SEQUENCE")
    kids = _children(der, start, end)
    if len(kids) != 3 or kids[2][0] != 0x03:
        raise ValueError("not a Certificate")
    (_, t0, _, t1), (_, a0, _, a1), (_, _, s0, s1) = kids
    return der[t0:t1], der[a0:a1], der[s0 + 1:s1]  # skip the BIT STRING unused-bits octet


# ecdsa-with-SHA256 AlgorithmIdentifier with, and without, a NULL parameter.  RFC 5758
# §3.2 says the parameters MUST be absent; some DCC test certificates carry NULL, which
# cryptography >= 49 refuses to load.  We rewrite a copy for parsing only: the stored
# DER and the signed tbs bytes stay the originals.
_ECDSA_SHA256_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")
_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")


def _without_null_ecdsa_params(der: bytes) -> bytes | None:
    tbs, alg, sig_value = _split_certificate(der)
    ttag, tstart, tend = _tlv(tbs, 0)
    fields = [tbs[s:e] for _, s, _, e in _children(tbs, tstart, tend)]
    if _ECDSA_SHA256_NULL not in fields and alg != _ECDSA_SHA256_NULL:
        return None
    tbs_body = b"".join(_ECDSA_SHA256 if f == _ECDSA_SHA256_NULL else f for f in fields)
    new_tbs = bytes([ttag]) + _der_len(len(tbs_body)) + tbs_body
    new_alg = _ECDSA_SHA256 if alg == _ECDSA_SHA256_NULL else alg
    sig = b"\x03" + _der_len(len(sig_value) + 1) + b"\x00" + sig_value
    body = new_tbs + new_alg + sig
    return b"\x30" + _der_len(len(body)) + body


# ---------------------------------------------------------------- distinguished names

_KEYWORDS = {
    "CN": NameOID.COMMON_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME, "C": NameOID.COUNTRY_NAME, "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME, "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT, "UID": NameOID.USER_ID,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "X500UNIQUEIDENTIFIER": NameOID.X500_UNIQUE_IDENTIFIER,
}
_STRING_TAGS = {0x0C: ("utf-8", _ASN1Type.UTF8String), 0x13: ("ascii", _ASN1Type.PrintableString),
                0x16: ("ascii", _ASN1Type.IA5String), 0x14: ("latin-1", _ASN1Type.T61String),
                0x1E: ("utf-16-be", _ASN1Type.BMPString),
                0x1C: ("utf-32-be", _ASN1Type.UniversalString)}
_OID_RE = re.compile(r"(?:OID\.)?([0-2](?:\.\d+)+)", re.IGNORECASE)
_HEX = set("0123456789abcdefABCDEF")


def _attribute(atype: str, raw: str | bytes, hexform: bool) -> x509.NameAttribute:
    key = atype.strip()
    oid = _KEYWORDS.get(key.upper())
    if oid is None:
        m = _OID_RE.fullmatch(key)
        if not m:
            raise ValueError(f"unknown attribute type {key!r}")
        oid = x509.ObjectIdentifier(m.group(1))
    if hexform:  # '#' + hex of the BER encoding (RFC 4514 §2.4)
        tag, start, end = _tlv(raw, 0)
        if end != len(raw):
            raise ValueError("trailing bytes after #hex value")
        if tag == 0x03:
            return x509.NameAttribute(oid, raw[start:end], _type=_ASN1Type.BitString)
        if tag not in _STRING_TAGS:
            raise ValueError(f"#hex value with unsupported ASN.1 tag 0x{tag:02x}")
        codec, asn1 = _STRING_TAGS[tag]
        return x509.NameAttribute(oid, raw[start:end].decode(codec), _type=asn1)
    if oid == NameOID.X500_UNIQUE_IDENTIFIER:
        raise ValueError("x500UniqueIdentifier must be given as #hex")
    return x509.NameAttribute(oid, raw)


def parse_dn(text: str) -> x509.Name:
    """An RFC 4514 / RFC 2253 string as an x509.Name, tolerant of spaces around separators.

    `cryptography`'s Name.from_rfc4514_string rejects "CN=U1, OU=07" (the form DUIS
    templates use) and mis-reads #hex values, so this small parser is ours.  RDNs in the
    string are in reverse DER order (RFC 4514 §2.1): "CN=Z1,OU=07" is DER [OU=07, CN=Z1].
    """
    rdns: list[list[x509.NameAttribute]] = [[]]
    i, n = 0, len(text)
    if not text.strip():
        return x509.Name([])
    while True:
        # attribute type
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError(f"expected TYPE=VALUE at offset {i}")
        atype = text[i:eq]
        i = eq + 1
        while i < n and text[i] == " ":
            i += 1
        buf, keep, hexform = bytearray(), 0, False
        if i < n and text[i] == "#":
            j = i + 1
            while j < n and text[j] in _HEX:
                j += 1
            try:
                buf = bytearray(binascii.unhexlify(text[i + 1:j]))
            except binascii.Error:
                raise ValueError(f"odd-length #hex value at offset {i}") from None
            hexform, keep, i = True, len(buf), j
        elif i < n and text[i] == '"':  # RFC 1779 quoted value, still seen in old tools
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf += text[j].encode("utf-8")
                j += 1
            if j >= n:
                raise ValueError("unterminated quoted value")
            keep, i = len(buf), j + 1
        else:
            while i < n and text[i] not in ",;+":
                c = text[i]
                if c == "\\":
                    pair = text[i + 1:i + 3]
                    if len(pair) == 2 and all(h in _HEX for h in pair):
                        buf.append(int(pair, 16))  # \XX: one byte of a UTF-8 sequence
                        i += 3
                    elif i + 1 < n:
                        buf += text[i + 1].encode("utf-8")
                        i += 2
                    else:
                        raise ValueError("dangling backslash")
                    keep = len(buf)  # an escaped space is significant
                    continue
                buf += c.encode("utf-8")
                if c != " ":
                    keep = len(buf)
                i += 1
            del buf[keep:]  # unescaped trailing spaces are not part of the value
        while i < n and text[i] == " ":
            i += 1
        if hexform:
            rdns[-1].append(_attribute(atype, bytes(buf), True))
        else:
            try:
                value = bytes(buf).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("escaped bytes are not UTF-8") from None
            rdns[-1].append(_attribute(atype, value, False))
        if i >= n:
            break
        sep = text[i]
        if sep not in ",;+":
            raise ValueError(f"unexpected {sep!r} at offset {i}")
        i += 1
        while i < n and text[i] == " ":
            i += 1
        if sep != "+":
            rdns.append([])
    return x509.Name([x509.RelativeDistinguishedName(r) for r in reversed(rdns)])


def _norm_value(v: str | bytes) -> list[str]:
    if isinstance(v, bytes):
        return ["b", v.hex()]
    # RFC 5280 §7.1 / RFC 4518, simplified: compatibility-normalise, fold case and
    # treat runs of spaces as one.  Matches CN/OU caseIgnoreMatch for SMKI names.
    return ["s", " ".join(unicodedata.normalize("NFKC", v).casefold().split())]


@lru_cache(maxsize=1024)  # bulk loads see the same few issuer names 100,000 times
def dn_key(name: x509.Name) -> str:
    """A canonical text for a DN: equal for equal DNs whatever their string encoding.

    PrintableString vs UTF8String, spacing and case do not change it; RDN order does
    (OU=07,CN=Z1 is a different DN from CN=Z1,OU=07).
    """
    rdns = [sorted([a.oid.dotted_string, *_norm_value(a.value)] for a in rdn) for rdn in name.rdns]
    return json.dumps(rdns, separators=(",", ":"), ensure_ascii=False)


def dn_equal(a: x509.Name | str, b: x509.Name | str) -> bool:
    a = parse_dn(a) if isinstance(a, str) else a
    b = parse_dn(b) if isinstance(b, str) else b
    return dn_key(a) == dn_key(b)


# ---------------------------------------------------------------- Certificate ID

_NULL_ISSUER = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "NULL")])
_DECIMAL = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True, eq=False)
class CertificateId:
    """TMAD Certificate ID: issuer name + serialNumber, compared as a DN, never as text."""

    issuer: x509.Name
    serial: int

    @cached_property
    def issuer_key(self) -> str:
        # Cached: hashing and comparing Certificate IDs (registry look-ups, caches) needs it
        # often, and normalising a DN is not cheap.  The dataclass is frozen, so it never changes.
        return dn_key(self.issuer)

    @property
    def key(self) -> tuple[str, int]:
        return (self.issuer_key, self.serial)

    @property
    def is_null(self) -> bool:
        return self.serial == 0 and self.issuer_key == _NULL_KEY

    @property
    def issuer_string(self) -> str:
        """X509IssuerName text: RFC 4514 ("CN=Z1,OU=07"), or "NULL" for the Null Certificate ID."""
        return "NULL" if self.is_null else self.issuer.rfc4514_string()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CertificateId) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return f"{self.issuer_string} #{self.serial}"

    @classmethod
    def parse(cls, issuer: str | x509.Name, serial: int | str, *,
              file: str | None = None, line: int | None = None) -> "CertificateId":
        """From X509IssuerName / X509SerialNumber text (or an x509.Name and an int).

        The Null Certificate ID is serial 0 with issuer "NULL"; "CN=NULL" is accepted too
        because the TMAD defines it by the issuer *Common Name* being 'NULL'.
        """
        if isinstance(serial, str):
            s = serial.strip()
            if not _DECIMAL.fullmatch(s):
                raise InputError(f"X509SerialNumber {serial!r} is not a non-negative decimal integer",
                                 file=file, line=line)
            serial = int(s)
        if serial < 0:
            raise InputError(f"serial number {serial} is negative", file=file, line=line)
        if isinstance(issuer, str):
            if issuer.strip() == "NULL":
                return cls(_NULL_ISSUER, serial)
            if not issuer.strip():
                raise InputError("X509IssuerName is empty", file=file, line=line)
            try:
                issuer = parse_dn(issuer)
            except ValueError as exc:
                raise InputError(f"X509IssuerName {issuer!r} is not a distinguished name: {exc}",
                                 file=file, line=line) from None
        return cls(issuer, serial)


_NULL_KEY = dn_key(_NULL_ISSUER)
NULL_CERTIFICATE_ID = CertificateId(_NULL_ISSUER, 0)

# ---------------------------------------------------------------- EUI-64


def format_eui(raw: bytes) -> str:
    """8 bytes as a DUIS sr:EUI: upper-case hex pairs joined by hyphens."""
    if len(raw) != 8:
        raise ValueError(f"an EUI-64 has 8 bytes, not {len(raw)}")
    return "-".join(f"{b:02X}" for b in raw)


_EUI_RE = re.compile(r"[0-9A-Fa-f]{2}(?:-?[0-9A-Fa-f]{2}){7}")


def normalise_eui(text: str) -> str:
    """'90b3d51f30010000' or '90-b3-d5-...' -> '90-B3-D5-1F-30-01-00-00'; ValueError otherwise."""
    t = text.strip()
    if not _EUI_RE.fullmatch(t):
        raise ValueError(f"{text!r} is not an EUI-64")
    return format_eui(bytes.fromhex(t.replace("-", "")))


# ---------------------------------------------------------------- the certificate


@dataclass(frozen=True)
class SmkiCertificate:
    cert_id: CertificateId
    issuer: str                      # RFC 4514, e.g. "CN=Z1,OU=07"
    subject: str
    role_code: int | None            # from OU; None when the OU is not two hex digits
    role: str | None                 # role name from the active role table
    ou: str | None                   # the raw OU text, for messages ("137")
    entity_id: str | None            # "90-B3-D5-1F-30-01-00-00"
    key_usage: str | None            # DIGITAL_SIGNATURE / KEY_AGREEMENT when exactly one is set
    not_before: datetime
    not_after: datetime
    policies: tuple[str, ...]
    is_ca: bool
    is_device: bool
    device_id: str | None            # EUI from a device certificate's hardwareModuleName
    problems: tuple[str, ...]        # empty <=> a conformant Organisation Certificate
    der: bytes = field(repr=False)
    tbs: bytes = field(repr=False)        # the signed bytes, from the original DER
    signature: bytes = field(repr=False)
    cert: x509.Certificate = field(repr=False, compare=False)
    source: str | None = None

    @property
    def serial(self) -> int:
        return self.cert_id.serial

    @property
    def is_organisation_certificate(self) -> bool:
        return not self.problems

    def require_organisation_certificate(self) -> "SmkiCertificate":
        if self.problems:
            raise InputError("not a conformant Organisation Certificate: " + "; ".join(self.problems),
                             file=self.source)
        return self


def _pem_to_der(data: bytes, source: str | None) -> bytes:
    m = re.search(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", data, re.S)
    if not m:
        raise InputError("PEM data holds no CERTIFICATE block", file=source)
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", m.group(1)), validate=True)
    except binascii.Error:
        raise InputError("PEM CERTIFICATE block is not valid base64", file=source) from None


def _key_usage(cert: x509.Certificate, problems: list[str]) -> str | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        problems.append("no keyUsage extension")
        return None
    ku = ext.value
    bits = [name for name, on in (
        (DIGITAL_SIGNATURE, ku.digital_signature), ("nonRepudiation", ku.content_commitment),
        ("keyEncipherment", ku.key_encipherment), ("dataEncipherment", ku.data_encipherment),
        (KEY_AGREEMENT, ku.key_agreement), ("keyCertSign", ku.key_cert_sign),
        ("cRLSign", ku.crl_sign)) if on]
    if ku.key_agreement:  # encipher/decipher_only are only defined with keyAgreement
        bits += [n for n, on in (("encipherOnly", ku.encipher_only), ("decipherOnly", ku.decipher_only)) if on]
    if not ext.critical:
        problems.append("keyUsage extension is not critical")
    if bits in ([DIGITAL_SIGNATURE], [KEY_AGREEMENT]):
        return bits[0]
    problems.append(f"keyUsage must be exactly one of digitalSignature/keyAgreement, is {bits or 'empty'}")
    return None


def _device_id(cert: x509.Certificate) -> tuple[bool, str | None]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False, None
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id.dotted_string == HARDWARE_MODULE_NAME_OID:
            # HardwareModuleName ::= SEQUENCE { hwType OID, hwSerialNum OCTET STRING }
            try:
                _, s, e = _tlv(other.value, 0)
                kids = _children(other.value, s, e)
                raw = other.value[kids[1][2]:kids[1][3]] if len(kids) == 2 and kids[1][0] == 0x04 else b""
                return True, format_eui(raw)
            except (ValueError, IndexError):
                return True, None
    return False, None


def parse(data: bytes | str, *, source: str | None = None) -> SmkiCertificate:
    """Parse a PEM or DER certificate.  Non-conformance is flagged, not raised."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    der = _pem_to_der(data, source) if b"-----BEGIN" in data else bytes(data)
    problems: list[str] = []
    try:
        tbs, _, signature = _split_certificate(der)
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            fixed = _without_null_ecdsa_params(der)
            if fixed is None:
                raise
            cert = x509.load_der_x509_certificate(fixed)
            problems.append("ecdsa-with-SHA256 AlgorithmIdentifier has NULL parameters "
                            "(RFC 5758 §3.2: must be absent)")
        return _build(cert, der, tbs, signature, problems, source)
    except ValueError as exc:  # cryptography reports malformed DER as ValueError
        raise InputError(f"not a valid X.509 certificate: {exc}", file=source) from None


def _build(cert: x509.Certificate, der: bytes, tbs: bytes, signature: bytes,
           problems: list[str], source: str | None) -> SmkiCertificate:
    table = role_table()
    subject = cert.subject
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bc.ca
    except x509.ExtensionNotFound:
        is_ca = False
    is_device, device_id = _device_id(cert)
    role_code = role = ou = entity_id = None
    if is_device and len(subject) == 0:
        # Device certificates: empty subject, identity in subjectAltName.  Report that,
        # not the dozen Organisation-profile checks that follow from it.
        problems.append("device certificate (empty subject, hardwareModuleName), "
                        "not an Organisation Certificate")
    else:
        is_device = False
        if is_ca:
            problems.append("CA certificate, not an Organisation Certificate")
        ous = subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if len(ous) != 1:
            problems.append(f"subject must have exactly one OU (Remote Party Role), has {len(ous)}")
        else:
            ou = ous[0].value
            if re.fullmatch(r"[0-9A-Fa-f]{2}", ou):
                role_code = int(ou, 16)
                role = table.name(role_code)
                if role is None:
                    problems.append(f"Remote Party Role code {role_code} (OU={ou}) is not in the role table")
            else:
                problems.append(f"subject OU {ou!r} is not a Remote Party Role (two hexadecimal digits)")
        uids = subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)
        raw = uids[0].value if len(uids) == 1 else None
        # cryptography hands back the BIT STRING content: unused-bits octet, then the bits.
        if isinstance(raw, bytes) and len(raw) == 9 and raw[0] == 0:
            entity_id = format_eui(raw[1:])
        else:
            problems.append("subject x500UniqueIdentifier must be one BIT STRING holding an 8-byte EUI-64")
    key_usage = _key_usage(cert, problems)
    try:
        pol = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES)
        policies = tuple(p.policy_identifier.dotted_string for p in pol.value)
        if not pol.critical:
            problems.append("certificatePolicies extension is not critical")
    except x509.ExtensionNotFound:
        policies = ()
        problems.append("no certificatePolicies extension")
    pub = cert.public_key()
    if not (isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(pub.curve, ec.SECP256R1)):
        problems.append("public key is not ECDSA P-256")
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        problems.append(f"signature algorithm is {cert.signature_algorithm_oid.dotted_string}, "
                        "not ecdsa-with-SHA256")
    if cert.serial_number <= 0:
        problems.append("serialNumber is not positive")
    return SmkiCertificate(
        cert_id=CertificateId(cert.issuer, cert.serial_number),
        issuer=cert.issuer.rfc4514_string(), subject=subject.rfc4514_string(),
        role_code=role_code, role=role, ou=ou, entity_id=entity_id, key_usage=key_usage,
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        policies=policies, is_ca=is_ca, is_device=is_device, device_id=device_id,
        problems=tuple(problems), der=der, tbs=tbs, signature=signature, cert=cert, source=source)


def load_file(path: str | Path) -> SmkiCertificate:
    """Parse a certificate file (PEM or DER); errors name the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read certificate: {exc.strerror}", file=str(p)) from None
    return parse(data, source=str(p))
