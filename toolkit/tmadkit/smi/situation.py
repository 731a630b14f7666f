"""From a witness's step facts to the SMI setup and event that produce them.

The Gherkin examples are witnesses; an implementation under test is not given the facts but
an SMI holding the Devices they describe and the event, and must reach the witness's outcome.
Unconstrained context is filled in so that nothing else forbids the event: the Device's CHF is
'commissioned', the Device it is joined to is a 'commissioned' meter.
"""
from __future__ import annotations

from typing import Any

from .engine import add_months, parse_time

START = "2025-06-01T00:00:00+00:00"
_NO_CHF_EVENTS = ("ch-delivery", "device-pre-notification", "chf-wan-connected")
_JOIN_EVENTS = ("join-service", "unjoin-service")


def events_for(machine, facts: dict[str, Any]) -> list[dict]:
    ev, dev = facts.get("event", {}), facts.get("device", {})
    dtype, status = dev.get("type") or "ESME", dev.get("status", machine.initial)
    device_id = f"{dtype}-1"
    out: list[dict] = [{"clock": START}]
    listed = status != machine.initial
    since = START
    for key, value in dev.items():
        if key.startswith("elapsed_") and key.endswith("_months"):
            months = int(key.split("_")[1])
            start = parse_time(START)
            # exactly N months in the status, or a day short of it
            since = (add_months(start, -months) if value else _day_after(add_months(start, -months))).isoformat()
    params: dict[str, Any] = {k: v for k, v in ev.items() if k not in ("name", "by")}
    if not listed and dev.get("type"):
        params["type"] = dtype
    if ev.get("name") in ("ch-delivery", "device-pre-notification") and dtype == "CHF":
        params["gpf"] = "GPF-1"
    associated: list[str] = []
    chf = facts.get("chf", {})
    if dtype != "CHF":
        chf_status = chf.get("status") or (None if ev.get("name") in _NO_CHF_EVENTS or not listed else "commissioned")
        if chf_status and chf_status != machine.initial:
            out.append({"setup": {"device": "CHF-1", "type": "CHF", "status": chf_status}})
            associated.append("CHF-1")
        if chf_status is not None:
            params["chf"] = "CHF-1"
    target = facts.get("target", {})
    if ev.get("name") in _JOIN_EVENTS or target:
        ttype = target.get("type") or ("GSME" if dtype == "GPF" else "ESME")
        tstatus = target.get("status") or "commissioned"
        tid = f"{ttype}-T"
        if tstatus != machine.initial:
            out.append({"setup": {"device": tid, "type": ttype, "status": tstatus,
                                  "associated": ["CHF-1"] if "CHF-1" in associated else []}})
        params["target"] = tid
    if listed:
        setup = {"device": device_id, "type": dtype, "status": status, "prior": dev.get("prior_status"),
                 "associated": associated, "since": since}
        if dev.get("smets1"):
            setup["smets1"] = True          # recorded when the Device was added (AC 3.9, 3.10)
        out.append({"setup": setup})
    out.append({"event": ev.get("name"), "device": device_id, "by": ev.get("by"), "params": params})
    return out


def _day_after(dt):
    from datetime import timedelta
    return dt + timedelta(days=1)


def run(engine, events: list[dict]) -> list:
    """Apply a list of setup / clock / event items to an engine; the outcomes of the events."""
    outcomes = []
    for item in events:
        if "setup" in item:
            s = item["setup"]
            engine.add(s["device"], s["type"], s["status"], s.get("prior"), s.get("associated", []), s.get("since"),
                       smets1=bool(s.get("smets1")))
        elif "clock" in item and "event" not in item:
            outcomes.extend(engine.tick(item["clock"]))
        else:
            outcomes.append(engine.apply(item["event"], item["device"], item["by"], item.get("params")))
    return outcomes
