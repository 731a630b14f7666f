"""Step definitions for the SMI lifecycle feature (features/ac/smi.feature).

Two shapes of scenario: an outline per transition or refusal, whose examples are the rule's
passing witnesses (an SMI situation, one event, the outcome the clause requires); and end-to-end
paths (setup, events, clock moves, what must hold after each).  Either way the implementation
under test gets only the SMI setup and the events (`smi_apply`), and what it reports is checked
against the witness and by the generated check of the rule.
"""
from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, then, when

from .. import registry
from ..smi import model, situation
from .cells import facts_from_table, parse_cell


@pytest.fixture
def tmadkit_smi() -> dict:
    return {"readings": [], "events": [], "facts": None, "result": None}


def _run(iut, smi: dict) -> dict:
    if not hasattr(iut, "smi_apply"):
        raise AssertionError(f"{getattr(iut, 'name', iut)!r} does not play the DCC's SMI role (no smi_apply)")
    smi["result"] = iut.smi_apply(list(smi["events"]), list(smi["readings"]))
    return smi["result"]


@given(parsers.parse('the DCC follows the reading "{rule_id}"'))
def follows_reading(rule_id: str, tmadkit_smi, tmadkit_scenario_record):
    tmadkit_smi["readings"].append(rule_id)
    tmadkit_scenario_record["reading"] = rule_id


# --- one rule, one witness -----------------------------------------------------------------------

@given(parsers.parse('the SMI step of witness "{witness}":'))
def smi_witness(witness: str, datatable, tmadkit_smi, tmadkit_scenario_record):
    facts = facts_from_table(datatable)
    tmadkit_smi["facts"] = facts
    tmadkit_smi["events"] = situation.events_for(model.load(), facts)
    tmadkit_scenario_record.update(witness=witness, facts=facts)


@when("the implementation applies the event to its Smart Metering Inventory")
def smi_apply_event(tmadkit_smi, tmadkit_iut, tmadkit_scenario_record):
    result = _run(tmadkit_iut, tmadkit_smi)
    got = result["outcomes"][-1]
    tmadkit_scenario_record["actual"] = {"status": got["result"], "detail": f"{got['status']}: {got['detail']}",
                                         "rule": got["rule"], "refused_by": got["refused_by"]}


@then("the outcome is the witness's")
def smi_outcome_is_witness(tmadkit_smi, tmadkit_scenario_record):
    expected = tmadkit_smi["facts"]["outcome"]
    got = tmadkit_smi["result"]["outcomes"][-1]
    tmadkit_scenario_record["expected"] = {"status": "pass", "outcome": expected}
    assert got["result"] == expected["result"], (
        f"expected {expected['result']}, the implementation says {got['result']}: {got['detail']}")
    assert got["status"] == expected["status"], (
        f"expected SMI Status {expected['status']!r}, the implementation has {got['status']!r}")
    missing = set(expected["effects"].split()) - set(got["effects"])
    assert not missing, f"the clause requires {sorted(missing)}; the implementation did {got['effects']}"


@then(parsers.parse('the step conforms to rule "{rule_id}"'))
def smi_step_conforms(rule_id: str, tmadkit_smi):
    got = tmadkit_smi["result"]["outcomes"][-1]
    rule = next(r for r in model.load().rules if r.id == rule_id)
    if rule.kind == model.REFUSAL:
        assert rule_id in got["refused_by"], f"refused by {got['refused_by'] or 'nothing'}, not by {rule_id}"
    else:
        assert got["rule"] == rule_id, f"the implementation applied {got['rule']}, not {rule_id}"
    verdict = registry.check(rule_id)(got["step"])
    assert verdict.status == "pass", f"{rule_id}: {verdict.status}: {verdict.detail}"


# --- paths ----------------------------------------------------------------------------------------

@given("the Smart Metering Inventory holds:")
def smi_holds(datatable, tmadkit_smi):
    header, *rows = datatable
    for row in rows:
        r = dict(zip([h.strip() for h in header], [c.strip() for c in row]))
        tmadkit_smi["events"].append({"setup": {
            "device": r["device"], "type": r["type"], "status": r["status"], "prior": r.get("prior") or None,
            "associated": (r.get("associated") or "").split(), "since": r.get("since") or None}})


def _send(sender: str, event: str, device: str, params: dict, smi: dict, iut, record: dict) -> None:
    smi["events"].append({"event": event, "device": device, "by": sender, "params": params})
    _step(iut, smi, record)


def _step(iut, smi: dict, record: dict) -> None:
    """Replay everything so far; outcomes before `before` belong to earlier steps (replay is deterministic)."""
    smi["before"] = len(smi["result"]["outcomes"]) if smi["result"] else 0
    _run(iut, smi)
    record.setdefault("witness", "path")
    record["expected"] = {"status": "pass"}
    last = smi["result"]["outcomes"][smi["before"]:] or [{}]
    record["actual"] = {"status": last[-1].get("result", "unchanged"), "detail": last[-1].get("detail", "")}


@when(parsers.re(r'the (?P<sender>[A-Za-z0-9 ]+) sends "(?P<event>[^"]+)" for "(?P<device>[^"]+)" with:'))
def smi_send_with(sender, event, device, datatable, tmadkit_smi, tmadkit_iut, tmadkit_scenario_record):
    _, *rows = datatable
    params = {k.strip(): parse_cell(v.strip(), f"param {k.strip()}") for k, v in rows}
    _send(sender, event, device, params, tmadkit_smi, tmadkit_iut, tmadkit_scenario_record)


@when(parsers.re(r'the (?P<sender>[A-Za-z0-9 ]+) sends "(?P<event>[^"]+)" for "(?P<device>[^"]+)"$'))
def smi_send(sender, event, device, tmadkit_smi, tmadkit_iut, tmadkit_scenario_record):
    _send(sender, event, device, {}, tmadkit_smi, tmadkit_iut, tmadkit_scenario_record)


@when(parsers.parse('the SMI clock reaches "{time}"'))
def smi_clock(time: str, tmadkit_smi, tmadkit_iut, tmadkit_scenario_record):
    tmadkit_smi["events"].append({"clock": time})
    _step(tmadkit_iut, tmadkit_smi, tmadkit_scenario_record)


@then(parsers.parse('the SMI Status of "{device}" is "{status}"'))
def smi_status_is(device: str, status: str, tmadkit_smi):
    devices = tmadkit_smi["result"]["devices"]
    got = devices[device]["status"] if device in devices else model.load().initial
    assert got == status, f"{device}: expected {status!r}, the implementation has {got!r}"


@then(parsers.parse('the Devices Associated with "{device}" are "{others}"'))
def smi_associated(device: str, others: str, tmadkit_smi):
    from ..smi.generate import NONE

    want = sorted(set(others.split()) - {NONE})
    entry = tmadkit_smi["result"]["devices"].get(device)
    got = sorted((entry or {}).get("associated") or [])
    assert got == want, (f"{device}: expected Associations with {want or NONE}, the implementation has "
                         f"{got or NONE}" + ("" if entry else f" ({device} is not in its SMI)"))


@then(parsers.parse('the MPxN recorded against "{device}" is "{mpxn}"'))
def smi_mpxn(device: str, mpxn: str, tmadkit_smi):
    entry = tmadkit_smi["result"]["devices"].get(device) or {}
    assert "mpxn" in entry, f"{device}: the implementation reports no MPxN for it (its SMI entry: {entry or 'none'})"
    assert entry["mpxn"] == mpxn, f"{device}: expected MPxN {mpxn!r} recorded, the implementation has {entry['mpxn']!r}"


@then(parsers.parse('the DCC raised alert "{code}"'))
def smi_alert(code: str, tmadkit_smi):
    alerts = [a for o in tmadkit_smi["result"]["outcomes"][tmadkit_smi.get("before", 0):] for a in o["alerts"]]
    assert code in alerts, f"expected DCC Alert {code}; the last step raised {alerts or 'none'}"


@then(parsers.parse('the event was refused by rule "{rule_id}"'))
def smi_refused_by(rule_id: str, tmadkit_smi):
    last = tmadkit_smi["result"]["outcomes"][-1]
    assert last["result"] == "refused" and rule_id in last["refused_by"], (
        f"expected a refusal by {rule_id}; the implementation says {last['result']} ({last['detail']})")
