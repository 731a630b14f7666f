"""The DCO's and the S1SP's per-installation validation of an authenticated MEF or MGF.

`tmadkit validate MCF MEF --as DCO` (or `MGF --as S1SP`) calls `validate_group_files` once every
file has been authenticated: each accepted MEF or MGF gets the procedure its rule file declares
(`mef-validation` in rules/tmad/table-16.7.yaml, `mgf-validation` in table-12.6.yaml) on each
SMETS1Installation, stopping at that installation's first failure (the tables' preamble).  An
MEF's rows read the MCF of the same Migration Header (its GPF's and ESME's DeviceIDs, whether it
has a GSME), which must be among the files and accepted too: the DCO Required File Set.
"""
from __future__ import annotations

from ..authentication.procedure import Procedure
from ..common_validation import extract as mcf_extract
from ..rules import tmad_rules
from ..runtime.group_validation import master_key_for
from . import extract

PROCEDURE = {"MEF": "mef-validation", "MGF": "mgf-validation"}
AUTHENTICATORS = ("DCO", "S1SP")


def _header_key(received) -> tuple:
    h = received.header
    return h.get("RequestingPartyID"), h.get("MCFCounter")


def _mcf_installations(received) -> dict:
    """The MCF's installations by CHF DeviceID (Table 5.10's extraction)."""
    root = received.tree.getroot()
    out = {}
    for el in mcf_extract.installations(root):
        inst = mcf_extract.installation(el)
        out[inst.get("chf", {}).get("device_id")] = inst
    return out


def _facts(group_id, entry: dict, installation: dict | None) -> dict:
    facts = {"group_id": group_id, "entry": entry}
    if installation is not None:
        facts["installation"] = installation
        # How the entry carries the GPF's key (the fact of the encrypted-key-gpf dispute): the
        # schema admits no EncryptedKeyGPF element, so only as an EncryptedKey, or not at all.
        if master_key_for(facts, keys="entry.EncryptedMasterKey", device="installation.gpf.device_id").ok:
            facts["gpf_key"] = "EncryptedKey"
    return facts


def validate_one(received, authenticator: str, mcf=None) -> dict:
    procedure = Procedure.load(PROCEDURE[received.file_type], tmad_rules())
    if not procedure.plan(authenticator):
        applied = ", ".join(f"{q}: {r}" for q, r in sorted(procedure.readings.items())) or "none disputed"
        return {"procedure": procedure.id, "not_run": f"the {authenticator} applies none of its steps to an "
                                                      f"{received.file_type} (readings applied: {applied})"}
    root = received.tree.getroot()
    group = received.header.get("GroupID")
    by_chf = _mcf_installations(mcf) if mcf is not None else None
    read = extract.entry if received.file_type == "MEF" else extract.mgf_entry
    installations = []
    for el in extract.entries(root):
        entry = read(el)
        chf = entry.get("CHFIdentifier")
        if by_chf is not None and chf not in by_chf:
            installations.append({"chf": chf, "accepted": False, "failure": {
                "step": None, "rule": None, "detail": f"the MCF {mcf.name} has no installation with CHF {chf}"}})
            continue
        result = procedure.run(_facts(group, entry, None if by_chf is None else by_chf[chf]), authenticator)
        f = result.failure
        installations.append({"chf": chf, "accepted": result.accepted, "failure": None if f is None else {
            "step": f.step, "rule": f.rule, "clauses": f.clauses, "detail": f.detail}})
    return {"procedure": procedure.id, "installations": installations,
            "installations_failed": sum(not i["accepted"] for i in installations),
            "readings": procedure.applied_readings()}


def validate_group_files(received_and_results: list[tuple], authenticator: str) -> None:
    """Adds `group_validation` to the result of each accepted MEF or MGF (in place)."""
    if authenticator not in AUTHENTICATORS:
        return
    mcfs = {_header_key(rf): rf for rf, r in received_and_results if r["accepted"] and r["file_type"] == "MCF"}
    for rf, result in received_and_results:
        if not result["accepted"] or result["file_type"] not in PROCEDURE:
            continue
        if result["file_type"] == "MEF":
            mcf = mcfs.get(_header_key(rf))
            if mcf is None:
                result["group_validation"] = {"procedure": PROCEDURE["MEF"], "not_run": (
                    "no accepted MCF with the same Migration Header (RequestingPartyID, MCFCounter) among the "
                    "files: the MEF's checks read its installations (the DCO Required File Set)")}
                continue
        else:
            mcf = None
        result["group_validation"] = validate_one(rf, authenticator, mcf)
