"""A registry of Organisation Certificates in embedded SQLite, keyed by Certificate ID.

The key is (normalised issuer DN, serial): the DN is stored as certificates.dn_key() so
"CN=Z1,OU=07", "CN=Z1, OU=07" and a PrintableString/UTF8String issuer all find the same
row.  Serials are stored as decimal text because SMKI serials are 128-bit and SQLite
integers are 64-bit.

Confirm Validity is a SEC Section A term the TMAD uses (Tables 5.9, 5.10) without
defining; what is implemented here is the part a relying party can check from the
certificate and this registry:
  * the certificate is in the registry and is a conformant Organisation Certificate;
  * its signature verifies under a *trusted* issuing CA (add_trusted_ca) whose subject
    is the certificate's issuer DN, and that CA is itself within its validity period at
    the check time (RFC 5280 path validation checks every certificate at that time);
  * the check time lies within notBefore..notAfter, both inclusive (RFC 5280 §4.1.2.5);
  * it is not revoked at the check time (revoked_at <= at means revoked).
The check time is always an argument: nothing here reads the clock.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import InputError
from . import roles
from .certificates import (DIGITAL_SIGNATURE, KEY_AGREEMENT, CertificateId, SmkiCertificate,
                           dn_key, parse)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificate (
    issuer_key  TEXT    NOT NULL,   -- certificates.dn_key(issuer)
    serial      TEXT    NOT NULL,   -- decimal
    issuer      TEXT    NOT NULL,   -- RFC 4514, for people reading the database
    subject     TEXT    NOT NULL,
    role_code   INTEGER,
    role        TEXT,
    key_usage   TEXT,
    entity_id   TEXT,
    not_before  INTEGER NOT NULL,   -- POSIX seconds, UTC
    not_after   INTEGER NOT NULL,
    revoked_at  INTEGER,            -- NULL = not revoked
    problems    TEXT    NOT NULL,   -- '' for a conformant Organisation Certificate
    der         BLOB    NOT NULL,
    PRIMARY KEY (issuer_key, serial)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS certificate_serial ON certificate (serial);
CREATE TABLE IF NOT EXISTS trusted_ca (
    der         BLOB    PRIMARY KEY,
    subject_key TEXT    NOT NULL,
    subject     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS trusted_ca_subject ON trusted_ca (subject_key);
"""
_COLUMNS = ("issuer_key, serial, issuer, subject, role_code, role, key_usage, entity_id, "
            "not_before, not_after, revoked_at, problems, der")
_PROBLEM_SEP = "\n"

# Verdict reasons (stable strings: reports and tests key on them).
VALID = "valid"
NULL_ID = "null-certificate-id"
UNKNOWN = "unknown-certificate"
NOT_ORGANISATION = "not-organisation-certificate"
UNTRUSTED_ISSUER = "untrusted-issuer"
BAD_SIGNATURE = "bad-issuer-signature"
ISSUER_NOT_VALID = "issuing-ca-not-valid"
NOT_YET_VALID = "not-yet-valid"
EXPIRED = "expired"
REVOKED = "revoked"


def _epoch(t: datetime, what: str) -> float:
    if t.tzinfo is None or t.utcoffset() is None:
        # A naive time is ambiguous by an hour in the UK half the year; refuse it.
        raise TypeError(f"{what} must be timezone-aware, got naive {t.isoformat()}")
    return t.timestamp()


def _dt(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)


@dataclass(frozen=True)
class Record:
    cert_id: CertificateId
    issuer: str
    subject: str
    role_code: int | None
    role: str | None
    key_usage: str | None
    entity_id: str | None
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    problems: tuple[str, ...]
    der: bytes

    def certificate(self) -> SmkiCertificate:
        return parse(self.der, source=str(self.cert_id))


@dataclass(frozen=True)
class Verdict:
    cert_id: CertificateId
    at: datetime
    failures: tuple[tuple[str, str], ...]  # (reason, detail), every check that failed

    @property
    def valid(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> str:
        return self.failures[0][0] if self.failures else VALID

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(r for r, _ in self.failures)

    def __bool__(self) -> bool:
        return self.valid

    def __str__(self) -> str:
        if self.valid:
            return f"{self.cert_id}: valid at {self.at.isoformat()}"
        return f"{self.cert_id}: " + "; ".join(d for _, d in self.failures)


def _as_cert(cert: SmkiCertificate | bytes | str) -> SmkiCertificate:
    return cert if isinstance(cert, SmkiCertificate) else parse(cert)


class Registry:
    def __init__(self, path: str | os.PathLike = ":memory:"):
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open certificate registry: {exc}", file=self.path) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM certificate").fetchone()[0]

    # ------------------------------------------------------------ loading

    def add_trusted_ca(self, ca: SmkiCertificate | bytes | str) -> None:
        """Trust an issuing Organisation CA: certificates it signed can pass Confirm Validity."""
        ca = _as_cert(ca)
        if not ca.is_ca:
            raise InputError(f"{ca.subject!r} is not a CA certificate (basicConstraints cA)",
                             file=ca.source)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO trusted_ca VALUES (?, ?, ?)",
                             (ca.der, dn_key(ca.cert.subject), ca.subject))

    def add(self, cert: SmkiCertificate | bytes | str, *, revoked_at: datetime | None = None) -> CertificateId:
        cert = _as_cert(cert)
        self.add_many([(cert, revoked_at)])
        return cert.cert_id

    def add_many(self, certs: Iterable[SmkiCertificate | bytes | tuple[SmkiCertificate | bytes, datetime | None]]) -> int:
        """Bulk insert in one transaction (executemany).  Returns the number added.

        A Certificate ID already present (or repeated in `certs`) is an InputError and
        nothing from this call is kept: IDs are unique by definition (TMAD Clause 2).
        """
        rows, seen = [], set()
        for item in certs:
            cert, revoked_at = item if isinstance(item, tuple) else (item, None)
            c = _as_cert(cert)
            key = c.cert_id.key
            if key in seen:
                raise InputError(f"Certificate ID {c.cert_id} given twice", file=c.source)
            seen.add(key)
            rows.append((c.cert_id.issuer_key, str(c.serial), c.issuer, c.subject, c.role_code, c.role,
                         c.key_usage, c.entity_id, int(c.not_before.timestamp()),
                         int(c.not_after.timestamp()),
                         None if revoked_at is None else int(_epoch(revoked_at, "revoked_at")),
                         _PROBLEM_SEP.join(c.problems), c.der))
        try:
            with self._db:  # one transaction: commit on success, roll back on any error
                self._db.executemany(f"INSERT INTO certificate ({_COLUMNS}) VALUES "
                                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError:
            for r in rows:
                if self._row(r[0], r[1]) is not None:
                    raise InputError(f"Certificate ID {r[2]} #{r[1]} is already in the registry",
                                     file=self.path) from None
            raise
        return len(rows)

    def revoke(self, cert_id: CertificateId, at: datetime) -> None:
        with self._db:
            cur = self._db.execute("UPDATE certificate SET revoked_at = ? WHERE issuer_key = ? AND serial = ?",
                                   (int(_epoch(at, "at")), cert_id.issuer_key, str(cert_id.serial)))
        if cur.rowcount == 0:
            raise KeyError(f"Certificate ID {cert_id} is not in the registry")

    # ------------------------------------------------------------ lookup

    def _row(self, issuer_key: str, serial: str) -> tuple | None:
        return self._db.execute(f"SELECT {_COLUMNS} FROM certificate WHERE issuer_key = ? AND serial = ?",
                                (issuer_key, serial)).fetchone()

    @staticmethod
    def _record(row: tuple, cert_id: CertificateId | None = None) -> Record:
        (_, serial, issuer, subject, role_code, role, usage, eui, nb, na, rev, problems, der) = row
        if cert_id is None:  # rebuild the issuer Name from the DER, not from display text
            cert_id = parse(bytes(der)).cert_id
        return Record(cert_id, issuer, subject, role_code, role, usage, eui, _dt(nb), _dt(na), _dt(rev),
                      tuple(problems.split(_PROBLEM_SEP)) if problems else (), bytes(der))

    def lookup(self, issuer: str | x509.Name | CertificateId, serial: int | str | None = None) -> Record | None:
        """By Certificate ID, or by (X509IssuerName text or Name, serial)."""
        if isinstance(issuer, CertificateId):
            cert_id = issuer
        elif serial is None:
            raise TypeError("lookup(issuer, serial): serial is required unless a CertificateId is given")
        else:
            cert_id = CertificateId.parse(issuer, serial)
        if cert_id.is_null:
            return None
        row = self._row(cert_id.issuer_key, str(cert_id.serial))
        return None if row is None else self._record(row, cert_id)

    def find_by_serial(self, serial: int | str) -> list[Record]:
        """Every certificate with this serial, whatever its issuer (diagnostics only)."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM certificate WHERE serial = ?",
                                (str(int(serial)),)).fetchall()
        return [self._record(r) for r in rows]

    # ------------------------------------------------------------ Confirm Validity

    def confirm_validity(self, cert_id: CertificateId, at: datetime) -> Verdict:
        t = _epoch(at, "at")
        if cert_id.is_null:
            return Verdict(cert_id, at, ((NULL_ID, "the Null Certificate ID identifies no certificate"),))
        rec = self.lookup(cert_id)
        if rec is None:
            return Verdict(cert_id, at, ((UNKNOWN, "no such certificate in the registry"),))
        failures: list[tuple[str, str]] = []
        if rec.problems:
            failures.append((NOT_ORGANISATION, "not a conformant Organisation Certificate: "
                             + "; ".join(rec.problems)))
        failures += self._issuer_failures(rec, t)
        if t < rec.not_before.timestamp():
            failures.append((NOT_YET_VALID, f"not valid before {rec.not_before.isoformat()}"))
        if t > rec.not_after.timestamp():
            failures.append((EXPIRED, f"expired at {rec.not_after.isoformat()}"))
        if rec.revoked_at is not None and t >= rec.revoked_at.timestamp():
            failures.append((REVOKED, f"revoked at {rec.revoked_at.isoformat()}"))
        return Verdict(cert_id, at, tuple(failures))

    def _issuer_failures(self, rec: Record, t: float) -> list[tuple[str, str]]:
        cas = self._db.execute("SELECT der FROM trusted_ca WHERE subject_key = ?",
                               (rec.cert_id.issuer_key,)).fetchall()
        if not cas:
            return [(UNTRUSTED_ISSUER, f"issuer {rec.issuer!r} is not a trusted Organisation CA")]
        cert = rec.certificate()
        signed_by_expired = None
        for (der,) in cas:  # a CA may have been re-keyed: several can share a DN
            ca = x509.load_der_x509_certificate(der)
            key = ca.public_key()
            if not isinstance(key, ec.EllipticCurvePublicKey):
                continue
            try:
                key.verify(cert.signature, cert.tbs, ec.ECDSA(cert.cert.signature_hash_algorithm))
            except InvalidSignature:
                continue
            if ca.not_valid_before_utc.timestamp() <= t <= ca.not_valid_after_utc.timestamp():
                return []
            signed_by_expired = ca
        if signed_by_expired is not None:
            return [(ISSUER_NOT_VALID, f"issuing CA {signed_by_expired.subject.rfc4514_string()} "
                     f"#{signed_by_expired.serial_number} is outside its validity period")]
        return [(BAD_SIGNATURE, f"signature does not verify under any trusted CA named {rec.issuer!r}")]

    # ------------------------------------------------------------ TMAD Clause 2 IDs

    def entity_identifier(self, cert_id: CertificateId) -> str | None:
        rec = self.lookup(cert_id)
        return rec.entity_id if rec else None

    def _party_id(self, cert_id: CertificateId, role: str, usage: str) -> str | None:
        # "...if it has a Remote Party Role of 'X' and a keyUsage of 'Y', the ... ID shall be
        # the Entity Identifier of the subject ... Otherwise, the ... ID shall be null."  An
        # unknown or Null Certificate ID identifies no such certificate, so it is null too.
        rec = self.lookup(cert_id)
        if rec is None or rec.role_code is None:
            return None
        if rec.role_code == roles.role_table().code(role) and rec.key_usage == usage:
            return rec.entity_id
        return None

    def critical_supplier_id(self, cert_id: CertificateId) -> str | None:
        return self._party_id(cert_id, roles.SUPPLIER, DIGITAL_SIGNATURE)

    def non_critical_supplier_id(self, cert_id: CertificateId) -> str | None:
        return self._party_id(cert_id, roles.SUPPLIER, KEY_AGREEMENT)

    def critical_network_operator_id(self, cert_id: CertificateId) -> str | None:
        return self._party_id(cert_id, roles.NETWORK_OPERATOR, DIGITAL_SIGNATURE)

    def non_critical_network_operator_id(self, cert_id: CertificateId) -> str | None:
        return self._party_id(cert_id, roles.NETWORK_OPERATOR, KEY_AGREEMENT)
