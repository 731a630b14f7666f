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

    def apply(self, actor: str, rule_id: str, facts: Mapping[str, Any]) -> Verdict:
        if actor not in self.roles:
            raise ValueError(f"{self.name} does not play {actor}")
        return evaluate(registry.check(rule_id), facts)


def factory() -> ReferenceImplementation:
    return ReferenceImplementation()
