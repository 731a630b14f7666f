"""Scenarios whose witness describes a file: the request an Authenticator gets, and the answer it owes.

The request is the real file (built, signed with the witness PKI and tampered with, exactly as
the in-process checks see it), who is authenticating, and the check time.  The answer the
implementation owes is the one Table 5.9 defines for the whole file: accepted, or rejected at
the *first* failing step, since the Authenticator stops there.  That is computed from the
procedure in rules/tmad/table-5.9.yaml over the generated checks, so a witness such as "an
unsigned file" (which rule 5.9.2 fails) is owed "rejected at 5.9.1" when the unsigned file is
also schema-invalid, which it is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ..authentication import witness
from ..authentication.context import AuthContext
from ..authentication.procedure import Procedure
from ..authentication.received import ReceivedFile
from ..authentication.validate import validate_file


@dataclass(frozen=True)
class AuthRequest:
    file_name: str
    content: bytes
    authenticator: str       # "DCC", "DCO", "S1SP" or "Commissioning Party"
    at: datetime             # the check time the scenario needs (certificate validity depends on it)
    pki: Path                # the test SMKI hierarchy the file is signed under (public certificates + pki.yaml)

    def envelope(self) -> dict:
        """The request as JSON (file exchange, test packs): everything but the bytes."""
        return {"operation": "authenticate", "file": self.file_name, "as": self.authenticator,
                "at": self.at.isoformat(), "pki": str(self.pki)}


def request_for(facts: Mapping[str, Any]) -> AuthRequest:
    f = facts["file"]
    edit = f.get("edit")
    name, content = witness._built(json.dumps(dict(f["build"]), sort_keys=True), f.get("tamper"),
                                   json.dumps(edit, sort_keys=True) if edit is not None else None)
    at = facts.get("received_at")
    at = datetime.fromisoformat(at) if isinstance(at, str) else (at or witness.WITNESS_TIME)
    return AuthRequest(name, content, str(facts.get("authenticator", witness.DEFAULT_AUTHENTICATOR)), at,
                       witness.witness_pki_public())


@lru_cache(maxsize=1)
def procedure() -> Procedure:
    return Procedure.load("authenticate")


def authenticate(request: AuthRequest, registry=None, proc: Procedure | None = None) -> dict:
    """Table 5.9 as the reference Authenticator applies it, with fresh Stored Counters: each
    scenario is one file arriving at an Authenticator that has seen nothing from its sender."""
    from ..smki import pki as pki_mod
    from ..smki.registry import Registry
    from ..stores.counters import CounterStore

    if registry is None:
        registry = Registry(":memory:")
        pki_mod.load(request.pki).load_into(registry)
    ctx = AuthContext(request.authenticator, registry, CounterStore(":memory:"), request.at)
    return validate_file(ReceivedFile(request.file_name, request.content), ctx, procedure=proc or procedure())


def expected_answer(request: AuthRequest) -> dict:
    """What the contract says the answer must be (accepted / rejected at the first failing step)."""
    full = authenticate(request, registry=witness._registry())
    failure = full["failure"]
    return {"accepted": full["accepted"],
            "failure": None if failure is None else {k: failure[k] for k in ("step", "rule", "clause", "message")}}


def compare(rule_id: str, expected: dict, actual: dict) -> str | None:
    """None if the implementation's answer conforms, else the sentence a tester reads."""
    if expected["accepted"]:
        if actual["accepted"]:
            return None
        f = actual["failure"]
        return (f"{rule_id}: the file must be accepted; the implementation rejected it at step {f['step']}"
                + (f" ({f['message']})" if f.get("message") else ""))
    want = expected["failure"]
    if actual["accepted"]:
        return (f"{rule_id}: the file must be rejected at step {want['step']} [{want['clause']}]: {want['message']}; "
                f"the implementation accepted it")
    if actual["failure"]["step"] != want["step"]:
        got = actual["failure"]
        return (f"{rule_id}: the file must be rejected at step {want['step']} [{want['clause']}] ({want['message']}); "
                f"the implementation rejected it at step {got['step']}"
                + (f" ({got['message']})" if got.get("message") else ""))
    return None


def summary(answer: dict) -> dict:
    """An answer in the report's terms: status and detail, with the raw answer kept."""
    if answer["accepted"]:
        return {"status": "accepted", "detail": "file accepted", "output": answer}
    f = answer["failure"]
    return {"status": f"rejected at {f['step']}", "detail": f.get("message") or "", "output": answer}
