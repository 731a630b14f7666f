"""Facts of a received file, computed on first use.

Rules read facts by dotted path; a received file answers `header.MCFCounter` by parsing
the XML, and `signer.remote_party_role` by reading KeyInfo's X509IssuerSerial and looking
the Certificate ID up in the Authenticator's registry.  Nothing is computed before a rule
asks for it, so a file that fails 5.9.1 is never signature-checked, and a broken part of a
file shows as an absent fact (which the rule reports) rather than an exception.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterator

from ..xml import signature
from .context import AuthContext
from .received import ReceivedFile


class LazyFacts(Mapping):
    """A read-only mapping whose values are computed once, on first access."""

    def __init__(self, literal: Mapping[str, Any], derived: Mapping[str, Callable[[], Any]]):
        self._literal = dict(literal)
        self._derived = dict(derived)
        self._cache: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._literal:
            return self._literal[key]
        if key not in self._cache:
            self._cache[key] = self._derived[key]()   # KeyError for unknown keys, as a mapping should
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._literal, *self._derived]))

    def __len__(self) -> int:
        return len(set(self._literal) | set(self._derived))


def _signer(received: ReceivedFile, ctx: AuthContext) -> dict:
    """Who signed, per the registry: empty when the file has no usable KeyInfo or the
    Certificate ID is unknown (5.9.2 then fails and says why)."""
    if received.parse_error:
        return {}
    try:
        profile = received.signature_profile
    except signature.SignatureError:
        return {}
    record = ctx.registry.lookup(profile.issuer_name, profile.serial)
    if record is None:
        return {"certificate_id": f"{profile.issuer_name} #{profile.serial}"}
    out = {"certificate_id": f"{record.issuer} #{record.cert_id.serial}"}
    if record.role is not None:
        out["remote_party_role"] = record.role
    if record.entity_id is not None:
        out["entity_identifier"] = record.entity_id
    if record.key_usage is not None:
        out["key_usage"] = record.key_usage
    return out


def file_facts(received: ReceivedFile, ctx: AuthContext, extra: Mapping[str, Any] | None = None) -> LazyFacts:
    literal = {
        "file": received,
        "file_name": received.name,
        "authenticator": ctx.authenticator,
        "received_at": ctx.at,
        "context": {"registry": ctx.registry, "counters": ctx.counters},
        **(extra or {}),
    }
    derived = {
        "file_type": lambda: received.file_type,
        "root_element": lambda: received.root_element,
        "header": lambda: received.header,
        "group_id": lambda: received.header.get("GroupID"),
        "counter_element": lambda: _counter_element(received),
        "signer": lambda: _signer(received, ctx),
    }
    return LazyFacts(literal, derived)


def _counter_element(received: ReceivedFile) -> str | None:
    """The name the file gives its own counter: Table 10.1's (MCFCounter ...) or the TMAD's other
    spelling (MCFCCounter ...; rules/tmad/counter-spelling.yaml)."""
    t = received.file_type
    return next((n for n in (f"{t}Counter", f"{t}CCounter") if n in received.header), None) if t else None
