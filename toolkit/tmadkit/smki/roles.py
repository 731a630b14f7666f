"""Remote Party Role codes of SMKI Organisation Certificates, and the TMAD roles that use them.

An Organisation Certificate carries its Remote Party Role as two hexadecimal digits in
the subject OU.  The SEC codes (0-8, 127, 135, 137) are those in DCC's ZAZ1 test
certificates.  The TMAD (Clause 3.16) adds roles, among them the four Table 5.5 signing
roles, for which NO code has been published: tmadkit assumes codes for them (see
role_codes.yaml) and lets a deployment replace them with TMADKIT_ROLE_CODES=<file.yaml>.
Every decision that depends on an assumed code is only as good as that assumption, so
RoleTable.assumed says which they are.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from .. import yamlload
from ..errors import InputError

ENV_VAR = "TMADKIT_ROLE_CODES"
DEFAULT_FILE = Path(__file__).with_name("role_codes.yaml")

# Role names as the TMAD and SEC Section L spell them.
ROOT = "root"
RECOVERY = "recovery"
SUPPLIER = "supplier"
NETWORK_OPERATOR = "networkOperator"
ACCESS_CONTROL_BROKER = "accessControlBroker"
TRANSITIONAL_COS = "transitionalCoS"
WAN_PROVIDER = "wanProvider"
ISSUING_AUTHORITY = "issuingAuthority"
LOAD_CONTROLLER = "loadController"
OTHER = "other"
XML_SIGN = "xmlSign"
DSP_XML_SIGN = "dspXmlSign"
REQUESTING_PARTY_FILE_SIGNING = "requestingPartyFileSigning"
S1SP_MIGRATION_SIGNING = "s1SPMigrationSigning"
COMMISSIONING_PARTY_FILE_SIGNING = "commissioningPartyFileSigning"
COMMISSIONING_PARTY_XML_SIGNING = "commissioningPartyXmlSigning"

# TMAD Table 5.5: the Remote Party Role the certificate that checks a file's signature
# must have.  Keys are the TMAD's own object names.
SIGNING_ROLE_FOR = MappingProxyType({
    "Commissioning Outcome File": COMMISSIONING_PARTY_FILE_SIGNING,
    "Migration Common File": REQUESTING_PARTY_FILE_SIGNING,
    "Migration Group File": REQUESTING_PARTY_FILE_SIGNING,
    "Migration Group Encrypted File": REQUESTING_PARTY_FILE_SIGNING,
    "Migration Common Validation File": S1SP_MIGRATION_SIGNING,
    "S1SP Commissioning File": S1SP_MIGRATION_SIGNING,
    "XML documents created to comply with the DUIS Schema": COMMISSIONING_PARTY_XML_SIGNING,
})

# Names a role table must define: the ID definitions (Clause 2) and Table 5.5 use them.
REQUIRED = (SUPPLIER, NETWORK_OPERATOR, ISSUING_AUTHORITY, *sorted(set(SIGNING_ROLE_FOR.values())))


@dataclass(frozen=True)
class RoleTable:
    by_name: Mapping[str, int]
    by_code: Mapping[int, str]
    assumed: frozenset[str]  # names whose code is a tmadkit assumption, not published
    source: str              # file(s) the table came from, for messages

    def code(self, name: str) -> int:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"unknown Remote Party Role {name!r} (role table {self.source})") from None

    def name(self, code: int) -> str | None:
        return self.by_code.get(code)

    def hex(self, name: str) -> str:
        """The OU form of a role: two upper-case hex digits."""
        return f"{self.code(name):02X}"


def _read(path: Path) -> dict[str, tuple[int, bool]]:
    data = yamlload.read(path, "role codes")
    roles = data.get("roles") if isinstance(data, dict) else None
    if not isinstance(roles, dict):
        raise InputError("expected a mapping 'roles: {name: {code: N, published: bool}}'", file=str(path))
    out: dict[str, tuple[int, bool]] = {}
    for name, entry in roles.items():
        code = entry.get("code") if isinstance(entry, dict) else entry
        published = bool(entry.get("published", False)) if isinstance(entry, dict) else False
        # bool is an int in Python; a YAML 'yes' must not become role 1.
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 255:
            raise InputError(f"role {name!r}: code must be an integer 0-255 (two hex digits in OU)",
                             file=str(path))
        out[str(name)] = (code, published)
    return out


def load_role_table(path: str | os.PathLike | None = None) -> RoleTable:
    """The default table, overlaid with `path` (or $TMADKIT_ROLE_CODES when path is None)."""
    entries = _read(DEFAULT_FILE)
    sources = [str(DEFAULT_FILE)]
    override = path if path is not None else os.environ.get(ENV_VAR) or None
    if override is not None:
        entries.update(_read(Path(override)))
        sources.append(str(override))
    source = " + ".join(sources)
    by_code: dict[int, str] = {}
    for name, (code, _) in entries.items():
        if code in by_code:
            raise InputError(f"roles {by_code[code]!r} and {name!r} share code {code} (0x{code:02X})",
                             file=sources[-1])
        by_code[code] = name
    missing = [n for n in REQUIRED if n not in entries]
    if missing:
        raise InputError(f"role table lacks {', '.join(missing)}", file=sources[-1])
    return RoleTable(
        by_name=MappingProxyType({n: c for n, (c, _) in entries.items()}),
        by_code=MappingProxyType(by_code),
        assumed=frozenset(n for n, (_, pub) in entries.items() if not pub),
        source=source,
    )


@lru_cache(maxsize=8)
def _cached(env_value: str | None) -> RoleTable:
    return load_role_table(env_value)


def role_table() -> RoleTable:
    """The active table, cached per value of $TMADKIT_ROLE_CODES (tests set it per case).

    Certificate parsing calls this once per certificate, hence the cache; a file edited
    in place under the same path is not re-read within one process.
    """
    return _cached(os.environ.get(ENV_VAR) or None)
