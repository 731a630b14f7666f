"""The Authenticator's side of a check: who it is, what it trusts, what it has seen, and when."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..smki.registry import Registry
from ..stores.counters import CounterStore

# Table 5.9 is run by the DCC (5.9), the DCO (5.20), the S1SP (5.22) and the Commissioning
# Party (6.1); "--as" names them as the CLI and the contract do.
AUTHENTICATORS = {"DCC": "DCC", "DCO": "DCO", "S1SP": "S1SP", "CP": "Commissioning Party",
                  "Commissioning Party": "Commissioning Party",
                  # Clause 5.11: the Requesting Party authenticates the MVF it receives.
                  "RP": "Requesting Party", "Requesting Party": "Requesting Party"}


@dataclass
class AuthContext:
    authenticator: str            # "DCC", "DCO", "S1SP", "Commissioning Party"
    registry: Registry            # certificates by Certificate ID, with trusted Organisation CAs
    counters: CounterStore        # the Authenticator's Stored Counters (durable in live use)
    at: datetime                  # the check time: explicit, never read from the clock here
