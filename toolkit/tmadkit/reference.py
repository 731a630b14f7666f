"""The in-process reference implementation: the generated checks, applied as each actor would.

It is the implementation the built-in conformance run tests, and the baseline that
external implementations (adapters) are compared against.
"""
from __future__ import annotations

from typing import Any, Mapping

from . import registry
from .authentication.witness import evaluate
from .runtime.verdict import Verdict


class ReferenceImplementation:
    """Plays every role: Authenticator, DCC, S1SP, DCO, Commissioning Party, Requesting Party."""

    name = "tmadkit reference"
    roles = ("DCC", "DCO", "S1SP", "Commissioning Party", "Requesting Party", "Supplier Party", "Authenticator")

    def apply(self, actor: str, rule_id: str, facts: Mapping[str, Any], version: str | None = None) -> Verdict:
        if actor not in self.roles:
            raise ValueError(f"{self.name} does not play {actor}")
        return evaluate(registry.check(rule_id), facts, version)

    def smi_apply(self, events: list[dict], readings: list[str] | None = None) -> dict:
        """The DCC's Smart Metering Inventory role: apply setup, clock and event items in order
        (see tmadkit.smi.situation) to a fresh SMI; the outcome of each event and the SMI after."""
        from .smi import situation
        from .smi.engine import Engine

        engine = Engine()
        for rule_id in readings or []:
            engine.choose(rule_id)
        outcomes = situation.run(engine, events)
        return {"outcomes": [o.to_dict() for o in outcomes],
                "devices": {d.id: {"type": d.type, "status": d.status, "prior_status": d.prior_status,
                                   "associated": engine.store.associated(d.id), "mpxn": d.mpxn}
                            for d in engine.store.devices()}}


def factory() -> ReferenceImplementation:
    return ReferenceImplementation()
