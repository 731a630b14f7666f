"""Authenticate received files as an Authenticator would (Table 5.9), and check their names (Table 10.2)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from .. import registry as checks_registry
from ..rules import load_all
from ..runtime.verdict import PASS
from .context import AuthContext
from .facts import file_facts
from .procedure import Procedure
from .received import ReceivedFile

NAMING_RULES = {"MCF": "TMAD-T10.2-MCF", "MGF": "TMAD-T10.2-MGF", "MEF": "TMAD-T10.2-MEF",
                "MVF": "TMAD-T10.2-MVF", "SCF": "TMAD-T10.2-SCF", "COF": "TMAD-T10.2-COF"}


def validate_file(received: ReceivedFile, ctx: AuthContext, extra: Mapping[str, Any] | None = None,
                  procedure: Procedure | None = None) -> dict:
    """The documented result: file, file_type, authenticator, accepted, failure, steps, naming, readings."""
    procedure = procedure or Procedure.load("authenticate")
    facts = file_facts(received, ctx, extra)
    outcome = procedure.run(facts, ctx.authenticator)
    failure = None
    if outcome.failure is not None:
        f = outcome.failure
        failure = {"step": f.step, "rule": f.rule, "clause": f.clauses[0] if f.clauses else None,
                   "clauses": f.clauses, "outcome": (f.outcome or {}).get("text"),
                   "action": (f.outcome or {}).get("action"), "message": f.detail}
    naming = None
    file_type = received.file_type
    if outcome.accepted and file_type in NAMING_RULES:
        if file_type == "MCF" and (extra or {}).get("route", {}).get("supplier_signifier"):
            rule_id = "TMAD-T10.2-MCF-supplier"
        else:
            rule_id = NAMING_RULES[file_type]
        v = checks_registry.check(rule_id)(facts)
        naming = {"rule": rule_id, "status": v.status, "message": v.detail, "clauses": list(v.clauses)}
    return {
        "file": received.name,
        "file_type": file_type,
        "authenticator": ctx.authenticator,
        "at": ctx.at.isoformat(),
        "accepted": outcome.accepted,
        "failure": failure,
        "steps": [s.to_dict() for s in outcome.steps],
        "naming": naming,
        "readings": outcome.readings,
    }


def name_ok(result: dict) -> bool:
    return result["naming"] is None or result["naming"]["status"] == PASS


def load_context(authenticator: str, *, pki_dir: Path | None, state_dir: Path, at: datetime,
                 world=None) -> AuthContext:
    """With a World (tmadkit.world), its certificate registry is the Authenticator's, with the
    PKI's certificates (if any) added to it."""
    from ..smki import pki as pki_mod
    from ..smki.registry import Registry
    from ..stores.counters import CounterStore

    registry = Registry(":memory:") if world is None else world.registry
    if pki_dir is not None:
        if world is None:
            pki_mod.load(pki_dir).load_into(registry)
        else:
            merge_pki(registry, pki_mod.load(pki_dir))
    # The state folder and database are made when the first counter is stored: a run that rejects
    # every file (or fails on its input) leaves no trace of itself.
    return AuthContext(authenticator, registry,
                       CounterStore(state_dir / "counters.sqlite", create_when_written=True), at)


def merge_pki(registry, pki) -> None:
    """Add a test PKI's trusted CA and certificates to a registry that may already hold some."""
    registry.add_trusted_ca(pki.issuing_ca_certificate())
    new = [e for e in pki.entries if registry.lookup(e.cert_id) is None]
    registry.add_many([(e.parsed_certificate(), e.revoked_at) for e in new])


__all__ = ["validate_file", "load_context", "merge_pki", "name_ok", "load_all"]
