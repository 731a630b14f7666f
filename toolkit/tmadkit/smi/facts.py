"""Step facts: what one event did to one Device, as the facts a generated check reads.

    event.name, event.by, event.<param>      the event and its yes/no parameters
    device.type, device.status, device.prior_status
    device.smets1                             recorded in the SMI when the Device was added (AC 3.9, 3.10)
    device.elapsed_<N>_months                 true when N calendar months in the status have passed
    chf.status, chf.type                      the CHF of the same Smart Metering System
    target.status, target.type                the Device it is joined to (Join Service)
    outcome.result                            transitioned | refused | unchanged
    outcome.status                            the Device's status afterwards
    outcome.effects                           space-separated tokens: alert:N8 associate:chf remove ...

Guards are translated here into predicates of the ordinary primitives (runtime/primitives.py),
so the engine, the generated checks and the mutation tests read one vocabulary.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ..runtime.primitives import COMBINATORS, PRIMITIVES
from ..runtime.verdict import Result

TRANSITIONED, REFUSED, UNCHANGED = "transitioned", "refused", "unchanged"


def elapsed_fact(months: int) -> str:
    return f"device.elapsed_{months}_months"


def guard_predicate(guard: Mapping[str, Any]) -> dict:
    """A state-machine guard as a rule predicate (rule.schema.json's vocabulary)."""
    (name, arg), = guard.items()
    if name in ("all", "any"):
        return {name: [guard_predicate(g) for g in arg]}
    if name == "not":
        return {"not": guard_predicate(arg)}
    if name == "status_in":
        return {"one_of": {"fact": f"{arg['of']}.status", "values": list(arg["states"])}}
    if name == "type_in":
        return {"one_of": {"fact": f"{arg['of']}.type", "values": list(arg["types"])}}
    if name == "param":
        return {"equals": {"fact": f"event.{arg}", "value": True}}
    if name == "recorded":
        return {"equals": {"fact": f"device.{arg}", "value": True}}
    if name == "sender_in":
        return {"one_of": {"fact": "event.by", "values": list(arg)}}
    if name == "elapsed_months":
        return {"equals": {"fact": elapsed_fact(arg), "value": True}}
    raise ValueError(f"unknown guard {name!r}")


def effect_token(effect: Mapping[str, Any]) -> str:
    """The token an effect leaves in outcome.effects (what a check looks for)."""
    if "alert" in effect:
        return f"alert:{effect['alert']}"
    if "notify" in effect:
        return "notify:" + re.sub(r"[^A-Za-z0-9]+", "-", effect["notify"]).strip("-").lower()
    if "associate" in effect:
        return f"associate:{effect['associate']}"
    if "dissociate" in effect:
        return f"dissociate:{effect['dissociate']}"
    if "record_mpxn" in effect:
        return "record-mpxn"
    if "record" in effect:
        return f"record:{effect['record']}"
    if "remove" in effect:
        return "remove"
    if "add_companion" in effect:
        return f"add:{effect['add_companion']}"
    if "cascade" in effect:
        # a cascade to another status than the Device's names it: the check then pins that status too
        return f"cascade:{effect['cascade']}" + (f"->{effect['status']}" if "status" in effect else "")
    raise ValueError(f"unknown effect {dict(effect)!r}")


def token_pattern(token: str) -> str:
    """A regex (for the `matches` primitive) that finds one token in outcome.effects."""
    return r"(.* )?" + re.escape(token) + r"( .*)?"


def evaluate(pred: Mapping[str, Any], facts: Mapping[str, Any]) -> Result:
    """Interpret a predicate (the generated checks compile the same tree to calls)."""
    (name, args), = pred.items()
    if name in ("all", "any"):
        return COMBINATORS[name](*[evaluate(a, facts) for a in args])
    if name == "not":
        return COMBINATORS["not"](evaluate(args, facts))
    return PRIMITIVES[name](facts, **{("facts_" if k == "facts" else k): v for k, v in args.items()})
