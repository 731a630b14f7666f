"""A throw-away SMKI-like test PKI: root CA, issuing Organisation CA, Organisation
Certificates for every role the TMAD needs, and negatives.

The certificates follow the profile seen in DCC's ZAZ1 test certificates (subject
CN?/OU=<role hex>/x500UniqueIdentifier=BIT STRING EUI-64, critical keyUsage with exactly
one bit, critical certificatePolicies, P-256, ecdsa-with-SHA256, 128-bit positive
serials) so that code tested against this PKI sees the same shapes as real SMKI data.
The TMAD migration roles use tmadkit's ASSUMED role codes (see roles.py).

init() writes certificates and pki.yaml under DIR and private keys only under key_dir
(default DIR/keys), created 0700 / 0600 and never printed.  Validity times derive from
the `now` argument so tests are reproducible; keys and serials are random.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from .. import yamlload
from ..errors import InputError
from . import roles
from .certificates import (DIGITAL_SIGNATURE, KEY_AGREEMENT, ORGANISATION_POLICY_OID,
                           CertificateId, normalise_eui)
from .registry import Registry

MANIFEST = "pki.yaml"
MANIFEST_VERSION = 1

# Party -> Entity Identifier.  02-xx: the locally-administered bit is set, so these can
# never be a real manufacturer-assigned EUI-64.
DEFAULT_PARTIES: Mapping[str, str] = {
    "dcc": "02-7D-00-00-00-00-00-01",
    "requesting-party": "02-7D-00-00-00-00-01-01",
    "s1sp": "02-7D-00-00-00-00-02-01",
    "commissioning-party": "02-7D-00-00-00-00-03-01",
    "supplier": "02-7D-00-00-00-00-04-01",
    "supplier-b": "02-7D-00-00-00-00-04-02",  # a second Supplier Party, for "same party" checks
    "network-operator": "02-7D-00-00-00-00-05-01",
}

DS, KA = DIGITAL_SIGNATURE, KEY_AGREEMENT

# Negative kinds, as written in the manifest's `negative` field.
EXPIRED, NOT_YET_VALID, REVOKED = "expired", "not-yet-valid", "revoked"
WRONG_ROLE, WRONG_USAGE = "wrong-role", "wrong-usage"
UNTRUSTED_ISSUER, MALFORMED_ROLE = "untrusted-issuer", "malformed-role"


@dataclass(frozen=True)
class Spec:
    name: str
    party: str
    role: str
    usage: str
    negative: str | None = None


SPECS: tuple[Spec, ...] = (
    Spec("requesting-party-file-signing", "requesting-party", roles.REQUESTING_PARTY_FILE_SIGNING, DS),
    Spec("s1sp-migration-signing", "s1sp", roles.S1SP_MIGRATION_SIGNING, DS),
    Spec("commissioning-party-file-signing", "commissioning-party", roles.COMMISSIONING_PARTY_FILE_SIGNING, DS),
    Spec("commissioning-party-xml-signing", "commissioning-party", roles.COMMISSIONING_PARTY_XML_SIGNING, DS),
    # Critical Supplier ID = supplier + digitalSignature; Non-Critical = supplier + keyAgreement.
    Spec("supplier-ds", "supplier", roles.SUPPLIER, DS),
    Spec("supplier-ka", "supplier", roles.SUPPLIER, KA),
    Spec("supplier-b-ds", "supplier-b", roles.SUPPLIER, DS),
    Spec("supplier-b-ka", "supplier-b", roles.SUPPLIER, KA),
    Spec("network-operator-ds", "network-operator", roles.NETWORK_OPERATOR, DS),
    Spec("network-operator-ka", "network-operator", roles.NETWORK_OPERATOR, KA),
    Spec("dcc-access-control-broker-ds", "dcc", roles.ACCESS_CONTROL_BROKER, DS),
    Spec("dcc-access-control-broker-ka", "dcc", roles.ACCESS_CONTROL_BROKER, KA),
    Spec("dcc-dsp-xml-sign", "dcc", roles.DSP_XML_SIGN, DS),
    Spec("dcc-transitional-cos-ds", "dcc", roles.TRANSITIONAL_COS, DS),
    Spec("dcc-wan-provider-ds", "dcc", roles.WAN_PROVIDER, DS),
    Spec("dcc-recovery-ds", "dcc", roles.RECOVERY, DS),
    # Negatives.
    Spec("requesting-party-file-signing-expired", "requesting-party", roles.REQUESTING_PARTY_FILE_SIGNING, DS, EXPIRED),
    Spec("requesting-party-file-signing-not-yet-valid", "requesting-party", roles.REQUESTING_PARTY_FILE_SIGNING, DS, NOT_YET_VALID),
    Spec("requesting-party-file-signing-revoked", "requesting-party", roles.REQUESTING_PARTY_FILE_SIGNING, DS, REVOKED),
    Spec("requesting-party-wrong-role", "requesting-party", roles.OTHER, DS, WRONG_ROLE),
    Spec("requesting-party-wrong-usage", "requesting-party", roles.REQUESTING_PARTY_FILE_SIGNING, KA, WRONG_USAGE),
    Spec("requesting-party-untrusted-issuer", "requesting-party", roles.REQUESTING_PARTY_FILE_SIGNING, DS, UNTRUSTED_ISSUER),
    Spec("requesting-party-malformed-role", "requesting-party", roles.REQUESTING_PARTY_FILE_SIGNING, DS, MALFORMED_ROLE),
    Spec("s1sp-migration-signing-expired", "s1sp", roles.S1SP_MIGRATION_SIGNING, DS, EXPIRED),
    Spec("supplier-ds-expired", "supplier", roles.SUPPLIER, DS, EXPIRED),
    Spec("network-operator-ka-revoked", "network-operator", roles.NETWORK_OPERATOR, KA, REVOKED),
)

ROOT_DN = [("00", "TK0")]      # (OU, CN): RFC 4514 "CN=TK0,OU=00"
ISSUING_DN = [("07", "TK1")]   # "CN=TK1,OU=07", shaped like ZAZ1's "CN=Z1,OU=07"


@dataclass(frozen=True)
class Entry:
    name: str
    party: str
    role: str
    role_code: int
    usage: str
    entity_id: str
    certificate: Path
    private_key: Path
    cert_id: CertificateId
    not_before: datetime
    not_after: datetime
    negative: str | None
    revoked_at: datetime | None

    def signer(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """The private key and certificate to sign with.  An error names the file that cannot be
        read or parsed, never what is in it: the key stays where the user put it."""
        try:
            key = serialization.load_pem_private_key(self.private_key.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"PKI entry {self.name}: the private key cannot be read ({_why(exc, 'private key')})",
                             file=str(self.private_key)) from None
        try:
            cert = x509.load_pem_x509_certificate(self.certificate.read_bytes())
        except (OSError, ValueError) as exc:
            raise InputError(f"PKI entry {self.name}: the certificate cannot be read ({_why(exc, 'certificate')})",
                             file=str(self.certificate)) from None
        return key, cert

    def parsed_certificate(self):
        """The certificate as the registry takes it (tmadkit.smki.certificates.parse), naming its file."""
        return _parsed(self.certificate)


def _why(exc: Exception, what: str) -> str:
    # cryptography's parse errors carry Rust debug text ("ParseError { kind: ShortData }"):
    # what matters is the kind of failure, not the internals.
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"not a PEM {what} this can read"


def _parsed(path: Path):
    from .certificates import parse

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the certificate: {exc.strerror or exc}", file=str(path)) from None
    return parse(data, source=str(path))


@dataclass(frozen=True)
class Pki:
    dir: Path
    root: Path
    issuing_ca: Path
    entries: tuple[Entry, ...]

    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def load_into(self, registry: Registry) -> None:
        """Trust the issuing CA and add every certificate (revocations included)."""
        registry.add_trusted_ca(self.issuing_ca_certificate())
        registry.add_many([(e.parsed_certificate(), e.revoked_at) for e in self.entries])

    def issuing_ca_certificate(self):
        """The issuing CA's certificate as the registry takes it, naming its file."""
        return _parsed(self.issuing_ca)


# ---------------------------------------------------------------- building


def _name(ou: str, cn: str | None, eui: bytes | None = None) -> x509.Name:
    # DER order as in ZAZ1 certificates: [CN], OU, [x500UniqueIdentifier].
    attrs = []
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    if eui is not None:
        # BIT STRING content = unused-bits octet (0) + the 8 EUI bytes: DER 03 09 00 <eui>.
        attrs.append(x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, b"\x00" + eui,
                                        _type=_ASN1Type.BitString))
    return x509.Name(attrs)


def _ca_name(dn: list[tuple[str, str]]) -> x509.Name:
    (ou, cn), = dn
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _serial() -> int:
    # 128-bit positive: 16 DER content octets, top bit clear, leading octet non-zero.
    return (1 << 120) + secrets.randbelow((1 << 127) - (1 << 120))


def _ca_cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
             issuer_key: ec.EllipticCurvePrivateKey, nb: datetime, na: datetime) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(_serial())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                        critical=True)
         .add_extension(ski, critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                        critical=False))
    return b.sign(issuer_key, hashes.SHA256())


def _org_cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
              issuer_key: ec.EllipticCurvePrivateKey, usage: str, nb: datetime, na: datetime) -> x509.Certificate:
    ds, ka = usage == DS, usage == KA
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(_serial())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.KeyUsage(ds, False, False, False, ka, False, False, False, False), critical=True)
         .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
             x509.ObjectIdentifier(ORGANISATION_POLICY_OID), None)]), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                        critical=False))
    return b.sign(issuer_key, hashes.SHA256())


class _Writer:
    """All file creation in one place, so every failure becomes one clear InputError."""

    def __init__(self, force: bool):
        self.force = force
        self.created: list[Path] = []     # what this run made, to take back if it fails

    def undo(self) -> None:
        """Remove what this run created (files, then folders, newest first), nothing else."""
        for path in reversed(self.created):
            try:
                path.rmdir() if path.is_dir() else path.unlink()
            except OSError:
                pass

    def mkdir(self, path: Path, mode: int = 0o755) -> None:
        try:
            new = [p for p in (path, *path.parents) if not p.exists()]
            if mode == 0o700 and path.is_dir() and path.stat().st_mode & 0o077:
                # The user's own folder (--key-dir ~, /tmp): its mode is not ours to change.
                raise InputError(f"the key directory can be read by others (mode {path.stat().st_mode & 0o7777:o}); "
                                 "give a new directory or one only you can open", file=str(path))
            path.mkdir(mode=mode, parents=True, exist_ok=True)
            self.created.extend(reversed(new))
            if mode == 0o700 and path in new:
                os.chmod(path, 0o700)  # mkdir's mode is filtered by umask
        except OSError as exc:
            raise InputError(f"cannot create directory: {exc.strerror}", file=str(path)) from None

    def write(self, path: Path, data: bytes, mode: int = 0o644) -> None:
        try:
            if self.force and path.exists():
                path.unlink()
            # O_EXCL + mode at creation: a key is never briefly world-readable, and an
            # existing file is never silently replaced.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            self.created.append(path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(path, mode)  # the umask may have cleared bits of `mode`
        except FileExistsError:
            raise InputError("already exists (use force=True / --force to replace)", file=str(path)) from None
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", file=str(path)) from None


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def init(dir: str | os.PathLike, *, parties: Mapping[str, str] | None = None,
         now: datetime | None = None, key_dir: str | os.PathLike | None = None,
         force: bool = False) -> Pki:
    """Create a test PKI in `dir`.

    parties: party name -> EUI-64 (any of DEFAULT_PARTIES; default all of them).  Only
    certificates of the named parties are made.  now: the reference time (timezone-aware;
    default the current time); valid certificates run from now-1 day to now+2 years.
    """
    if now is None:
        now = datetime.now(timezone.utc)
    if now.tzinfo is None or now.utcoffset() is None:
        raise TypeError("now must be timezone-aware")
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    chosen = dict(DEFAULT_PARTIES if parties is None else parties)
    unknown = sorted(set(chosen) - set(DEFAULT_PARTIES))
    if unknown:
        raise ValueError(f"unknown parties {unknown}; known: {sorted(DEFAULT_PARTIES)}")
    try:
        euis = {p: normalise_eui(e) for p, e in chosen.items()}
    except ValueError as exc:
        raise InputError(str(exc)) from None

    base = Path(dir).absolute()
    keys = Path(key_dir).absolute() if key_dir is not None else base / "keys"
    w = _Writer(force)
    if (base / MANIFEST).exists() and not force:
        raise InputError("a test PKI is already here (use --force to replace it)", file=str(base / MANIFEST))
    try:
        return _init(w, base, keys, euis, now)
    except BaseException:
        w.undo()       # a failed init leaves no half PKI behind (keys included)
        raise


def _init(w: "_Writer", base: Path, keys: Path, euis: Mapping[str, str], now: datetime) -> Pki:
    for d in (base, base / "ca", base / "certs"):
        w.mkdir(d)
    w.mkdir(keys, 0o700)

    table = roles.role_table()
    day = timedelta(days=1)
    curve = ec.SECP256R1()
    root_key, ca_key, rogue_key = (ec.generate_private_key(curve) for _ in range(3))
    root_name, ca_name = _ca_name(ROOT_DN), _ca_name(ISSUING_DN)
    # CAs start 30 days early so that an Organisation Certificate's own validity edges
    # (now-1 day ...) can be tested without hitting the CA's.
    ca_nb = now - 30 * day
    root = _ca_cert(root_name, root_key, root_name, root_key, ca_nb, now + 20 * 365 * day)
    ca = _ca_cert(ca_name, ca_key, root_name, root_key, ca_nb, now + 10 * 365 * day)
    # Same DN as the issuing CA, different key: its certificates look right and fail.
    rogue = _ca_cert(ca_name, rogue_key, ca_name, rogue_key, ca_nb, now + 10 * 365 * day)
    w.write(base / "ca" / "root.pem", _pem(root))
    w.write(base / "ca" / "issuing-ca.pem", _pem(ca))
    w.write(base / "ca" / "rogue-issuing-ca.pem", _pem(rogue))
    w.write(keys / "root.key.pem", _key_pem(root_key), 0o600)
    w.write(keys / "issuing-ca.key.pem", _key_pem(ca_key), 0o600)

    entries = []
    for spec in SPECS:
        if spec.party not in euis:
            continue
        eui = euis[spec.party]
        code = table.code(spec.role)
        ou = str(code) if spec.negative == MALFORMED_ROLE else f"{code:02X}"
        nb, na = now - day, now + 2 * 365 * day
        if spec.negative == EXPIRED:
            nb, na = now - 20 * day, now - day
        elif spec.negative == NOT_YET_VALID:
            nb, na = now + day, now + 2 * 365 * day
        revoked_at = now - timedelta(hours=1) if spec.negative == REVOKED else None
        signer = rogue_key if spec.negative == UNTRUSTED_ISSUER else ca_key
        key = ec.generate_private_key(curve)
        cn = f"TMADKIT {spec.party.upper()}"
        cert = _org_cert(_name(ou, cn, bytes.fromhex(eui.replace("-", ""))), key, ca_name, signer,
                         spec.usage, nb, na)
        cert_path, key_path = base / "certs" / f"{spec.name}.pem", keys / f"{spec.name}.key.pem"
        w.write(cert_path, _pem(cert))
        w.write(key_path, _key_pem(key), 0o600)
        entries.append(Entry(spec.name, spec.party, spec.role, code, spec.usage, eui, cert_path, key_path,
                             CertificateId(ca_name, cert.serial_number), nb, na, spec.negative, revoked_at))

    manifest = {
        "tmadkit_pki": MANIFEST_VERSION,
        "now": now.isoformat(),
        "note": ("TEST PKI ONLY. Role codes of TMAD roles are tmadkit assumptions: "
                 + ", ".join(f"{n}={table.code(n)}" for n in sorted(table.assumed))),
        "role_codes_source": table.source,
        "root_ca": {"certificate": "ca/root.pem", "subject": root.subject.rfc4514_string(),
                    "private_key": _rel(keys / "root.key.pem", base)},
        "issuing_ca": {"certificate": "ca/issuing-ca.pem", "subject": ca.subject.rfc4514_string(),
                       "serial": str(ca.serial_number), "trusted": True,
                       "private_key": _rel(keys / "issuing-ca.key.pem", base)},
        "rogue_issuing_ca": {"certificate": "ca/rogue-issuing-ca.pem",
                             "subject": rogue.subject.rfc4514_string(), "trusted": False},
        "certificates": [{
            "name": e.name, "party": e.party, "role": e.role, "role_code": e.role_code,
            "role_code_assumed": e.role in table.assumed, "key_usage": e.usage,
            "entity_id": e.entity_id,
            "certificate": _rel(e.certificate, base), "private_key": _rel(e.private_key, base),
            "certificate_id": {"issuer": e.cert_id.issuer_string, "serial": str(e.cert_id.serial)},
            "not_before": e.not_before.isoformat(), "not_after": e.not_after.isoformat(),
            "negative": e.negative,
            "revoked_at": e.revoked_at.isoformat() if e.revoked_at else None,
        } for e in entries],
    }
    w.write(base / MANIFEST, yaml.safe_dump(manifest, sort_keys=False, width=120).encode("utf-8"))
    return Pki(base, base / "ca" / "root.pem", base / "ca" / "issuing-ca.pem", tuple(entries))


def load(dir: str | os.PathLike) -> Pki:
    """Read back a PKI made by init() from its pki.yaml."""
    base = Path(dir).absolute()
    path = base / MANIFEST
    # libyaml: pure-Python PyYAML took 0.1 s over 40 certificates on every `validate`
    m = yamlload.read(path, "test PKI manifest")
    if not isinstance(m, dict) or m.get("tmadkit_pki") != MANIFEST_VERSION:
        raise InputError(f"not a tmadkit test PKI manifest (version {MANIFEST_VERSION})", file=str(path))
    when = datetime.fromisoformat
    entries = tuple(Entry(
        c["name"], c["party"], c["role"], c["role_code"], c["key_usage"], c["entity_id"],
        base / c["certificate"], base / c["private_key"],
        CertificateId.parse(c["certificate_id"]["issuer"], c["certificate_id"]["serial"], file=str(path)),
        when(c["not_before"]), when(c["not_after"]), c["negative"],
        when(c["revoked_at"]) if c["revoked_at"] else None) for c in m["certificates"])
    return Pki(base, base / m["root_ca"]["certificate"], base / m["issuing_ca"]["certificate"], entries)
