"""Primitives over a received file: TMAD Table 5.9 steps 5.9.1, 5.9.2 and 5.9.4.

They take the file and the Authenticator's registry as facts (`file`, `context.registry`)
so a rule names exactly what a step consults.  Each runs the real machinery: the hardened
parser and libxml2 XSD validation, the signature profile gate and python-xmlsec, and the
certificate registry's Confirm Validity.
"""
from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Mapping

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from ..xml import safe, schema, signature
from .facts import MISSING, get
from .verdict import Result


def _received(facts: Mapping[str, Any], fact: str):
    value = get(facts, fact)
    if value is MISSING or not hasattr(value, "content"):
        raise ValueError(f"{fact} is not a received file")
    return value


def xml_valid(facts: Mapping[str, Any], *, file: str) -> Result:
    """Well formed, no DTD or entities, valid against the SMETS1 Migration Schema, and a single
    instance of one of the Table 10.2 structures (Clause 10.1)."""
    received = _received(facts, file)
    if received.parse_error is not None:
        return Result(False, f"{received.name} is not acceptable XML: {received.parse_error}")
    errors = schema.validate(received.tree)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Result(False, f"{received.name} is not valid against the SMETS1 Migration Schema: {first}{more}")
    return Result(True, f"{received.name} is a valid {received.root_element}")


def _record(received, registry):
    profile = received.signature_profile
    record = registry.lookup(profile.issuer_name, profile.serial)
    return profile, record


def signature_verifies(facts: Mapping[str, Any], *, file: str, registry: str) -> Result:
    """The one signature is in the TMAD profile and verifies with the certificate that the
    Authenticator's registry holds for KeyInfo's Certificate ID (KeyInfo itself is unsigned)."""
    received = _received(facts, file)
    reg = get(facts, registry)
    if received.parse_error is not None:
        return Result(False, f"{received.name} cannot be parsed: {received.parse_error}")
    # Comments are outside the signed (comment-free) canonical form, so text around one can
    # read differently to different consumers; a signed TMAD file has no reason to hold one.
    # A comment can only be there if "<!--" is: look for the bytes before parsing a second tree
    # (a 300 MB file's tree is gigabytes).
    with_comments = (safe.parse_bytes(received.content, file=received.name, keep_comments=True)
                     if b"<!--" in received.content else None)
    comment = None if with_comments is None else next(iter(with_comments.iter(etree.Comment)), None)
    if comment is not None:
        return Result(False, f"{received.name}:{comment.sourceline}: a comment inside the signed document")
    try:
        profile, record = _record(received, reg)
        if record is None:
            return Result(False, f"KeyInfo names Certificate ID ({profile.issuer_name}, {profile.serial}), "
                                 "which the Authenticator does not hold")
        received.verified(x509.load_der_x509_certificate(record.der))
    except signature.SignatureError as exc:
        return Result(False, f"signature rejected ({exc.stage}): {exc}")
    return Result(True, f"signature verifies with certificate {record.issuer} #{record.cert_id.serial}")


def verify_ahead(received, registry) -> None:
    """Start the verification signature_verifies will ask for (ReceivedFile.verify_ahead says
    why): that of the tree with the certificate `registry` holds for KeyInfo's Certificate
    ID.  Nothing is started for a file that does not parse, has no signature in the profile,
    or names a certificate the registry does not hold: 5.9.1 or 5.9.2 rejects those anyway."""
    if received.parse_error is not None:
        return
    try:
        _, record = _record(received, registry)
    except signature.SignatureError:
        return
    if record is not None:
        received.verify_ahead(x509.load_der_x509_certificate(record.der))


def certificate_valid(facts: Mapping[str, Any], *, file: str, registry: str, at: str) -> Result:
    """Confirm Validity of the certificate that checked the signature, at the check time."""
    received = _received(facts, file)
    reg = get(facts, registry)
    when = get(facts, at)
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    try:
        profile, record = _record(received, reg)
    except (signature.SignatureError, Exception) as exc:  # noqa: BLE001 - reported, not raised
        return Result(False, f"no certificate to confirm: {exc}")
    if record is None:
        return Result(False, f"Certificate ID ({profile.issuer_name}, {profile.serial}) is not in the registry")
    verdict = reg.confirm_validity(record.cert_id, when)
    if verdict:
        return Result(True, f"certificate {record.issuer} #{record.cert_id.serial} is valid at {when.isoformat()}")
    return Result(False, f"certificate {record.issuer} #{record.cert_id.serial} is not valid at "
                         f"{when.isoformat()}: {verdict}")


# Prefixes an XPath in a rule may use.
XPATH_NAMESPACES = {"m": schema.NAMESPACE, "ds": "http://www.w3.org/2000/09/xmldsig#"}


_ELEMENT = etree._Element    # what the parser makes of an element (comments and PIs are subclasses)


@lru_cache(maxsize=256)
def _xpath(select: str) -> etree.XPath:
    return etree.XPath(select, namespaces=XPATH_NAMESPACES)


_NAMED_DESCENDANTS = re.compile(r"\s*//(\w+):(\w+)\s*(?:\|\s*//(\w+):(\w+)\s*)*")
_NAMED_DESCENDANT = re.compile(r"//(\w+):(\w+)")


@lru_cache(maxsize=256)
def _named_descendants(select: str) -> tuple[str, ...] | None:
    """The element names of an XPath of the form //p:A | //p:B ..., which selects what
    root.iter(A, B) yields (the document's elements of those names, in document order, the
    root included); None for any other XPath.  The iteration is a C loop with nothing built
    per other element, where XPath builds and sorts a node set: 1.1 s saved on the 700,000
    DeviceIDs of a 400 MB file."""
    if _NAMED_DESCENDANTS.fullmatch(select) is None:
        return None
    names = []
    for prefix, local in _NAMED_DESCENDANT.findall(select):
        if prefix not in XPATH_NAMESPACES:
            return None            # let XPath report the undefined prefix
        names.append("{" + XPATH_NAMESPACES[prefix] + "}" + local)
    return tuple(dict.fromkeys(names))


def _selected(root: etree._Element, select: str):
    # A large MCF has hundreds of thousands of DeviceIDs: a plain list of names is iterated in
    # C, any other XPath is compiled once.
    names = _named_descendants(select)
    return root.iter(*names) if names else _xpath(select)(root)


def xpath_text(facts: Mapping[str, Any], *, file: str, select: str, pattern: str) -> Result:
    """Every element the XPath selects has text matching the pattern (e.g. a Table 10.1 format)."""
    received = _received(facts, file)
    if received.parse_error is not None:
        return Result(False, f"{received.name} cannot be parsed: {received.parse_error}")
    fullmatch = re.compile(pattern).fullmatch
    count = 0
    for node in _selected(received.tree.getroot(), select):
        count += 1
        # type() first: building each element's namespaced .tag costs more than the match
        text = ((node.text or "").strip() if type(node) is _ELEMENT or isinstance(node.tag, str)
                else str(node))
        if fullmatch(text) is None:
            where = f"line {node.sourceline}" if hasattr(node, "sourceline") else select
            return Result(False, f"{etree.QName(node).localname} at {where} is {text!r}, required to match /{pattern}/")
    return Result(True, f"{count} element(s) selected by {select} match /{pattern}/")


P256_POINT_OCTETS = 65     # 0x04 || X || Y, len(X) = len(Y) = 32 (Table 11.3B)
_XML_WS = re.compile(r"[ \t\r\n]+")


def p256_public_key(octets: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key whose uncompressed form (0x04 || X || Y) is ``octets``; ValueError
    saying why not.  pyca/cryptography refuses a point off the curve, but accepts the
    compressed form (0x02/0x03 || X) too, which Table 11.3B does not allow: the length and the
    first octet are checked here, first.  The point at infinity has no 65-octet encoding."""
    if len(octets) != P256_POINT_OCTETS:
        raise ValueError(f"{len(octets)} octet(s), required {P256_POINT_OCTETS} (0x04 || X || Y)")
    if octets[0] != 0x04:
        form = "compressed" if octets[0] in (2, 3) else "hybrid" if octets[0] in (6, 7) else "unknown"
        raise ValueError(f"first octet 0x{octets[0]:02x} ({form} form), required 0x04 (the uncompressed form)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), octets)
    except ValueError:
        raise ValueError("the point is not on the curve P-256") from None


def p256_public_keys(facts: Mapping[str, Any], *, file: str, select: str) -> Result:
    """Every element the XPath selects holds the Base64 of an uncompressed P-256 public key on
    the curve (Table 11.3B PublicKey).  An empty element is left to the check that looks for
    empty ones (Table 16.7 step 16.7.5), as the schema leaves it."""
    received = _received(facts, file)
    if received.parse_error is not None:
        return Result(False, f"{received.name} cannot be parsed: {received.parse_error}")
    count = 0
    for node in _selected(received.tree.getroot(), select):
        text = _XML_WS.sub("", node.text or "")        # xs:base64Binary allows whitespace
        if not text:
            continue
        count += 1
        try:
            p256_public_key(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as exc:
            reason = "not Base64" if isinstance(exc, binascii.Error) else str(exc)
            return Result(False, f"{received.name}:{node.sourceline}: {schema.element_path(node)} is not the "
                                 f"uncompressed form of a P-256 public key: {reason}")
    return Result(True, f"{count} public key(s) selected by {select} are uncompressed P-256 points on the curve")
