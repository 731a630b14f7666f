"""Clause 5.10(a): to whom the DCC provides an authenticated MCF, and under which name.

Whether the MCF is distributed at all depends on how the opening words of Clause 5.10 are read
(tmad-text-defects #3, question `clause-5-10-opening`); the reading applied is declared by the
`mcf-processing` procedure in rules/tmad/clause-5.10.yaml, not chosen here.  The plan is then
checked by the generated checks of the 5.10(a) rules themselves, so the plan and the rules
cannot drift apart: `verdicts` in the result shows them.
"""
from __future__ import annotations

from functools import lru_cache

from .. import registry as checks_registry
from ..authentication.procedure import Procedure
from ..files.build import table_10_2_name
from ..runtime.common_validation import certificate_id
from ..xml import schema

TABLE_5_9_READING = "TMAD-5.10-opening-table-5.9"
COMMISSIONING_PARTY, RESPONSIBLE_SUPPLIER = "Commissioning Party", "Responsible Supplier"


@lru_cache(maxsize=1)
def procedure() -> Procedure:
    from ..rules import tmad_rules

    return Procedure.load("mcf-processing", tmad_rules())


def applied_reading() -> str:
    return procedure().readings["clause-5-10-opening"]


def responsible_supplier_signifier(world, installations) -> str | None:
    """The Supplier Signifier of the Party whose Critical Supplier ID the first ESME carries
    (Clause 5.8(iii) makes every Supplier Certificate ID of a 'False' file one Party's)."""
    for inst in installations:
        value = ((inst.get("esme") or {}).get("certificates") or {}).get("critical_supplier")
        cid = certificate_id(value)
        if cid is not None and not cid.is_null:
            entity = world.registry.critical_supplier_id(cid)
            return world.supplier_signifier(entity) if entity else None
    return None


def plan(header: dict, *, accepted: bool, installations_failed: int, signifier: str | None) -> dict:
    """{distributed, reading, recipients: [{recipient, file}], verdicts}."""
    reading = applied_reading()
    distributed = accepted and (reading == TABLE_5_9_READING or installations_failed == 0)
    to_be_commissioned = header.get("ToBeCommissionedByDCC") is True
    own_name, _ = table_10_2_name(_naming_facts(header, None))
    recipients = []
    if distributed:
        recipients = [{"recipient": "S1SP", "file": own_name}, {"recipient": "DCO", "file": own_name}]
        if to_be_commissioned:
            recipients.append({"recipient": COMMISSIONING_PARTY, "file": own_name})
        else:
            name = table_10_2_name(_naming_facts(header, signifier))[0] if signifier else None
            recipients.append({"recipient": RESPONSIBLE_SUPPLIER, "file": name})
    facts = {"file_type": "MCF", "header": header,
             "mcf": {"accepted": accepted, "installations_failed": installations_failed},
             "distribution": {"distributed": distributed, "recipients": [r["recipient"] for r in recipients]}}
    verdicts = {}
    for _, rule in procedure().plan("DCC"):
        if rule.id.startswith(("TMAD-5.10-opening-", "TMAD-5.10-a-")):
            verdicts[rule.id] = checks_registry.check(rule.id)(facts).status
    return {"distributed": distributed, "reading": reading, "recipients": recipients, "verdicts": verdicts}


def _naming_facts(header: dict, signifier: str | None) -> dict:
    facts = {"file_type": "MCF", "root_element": schema.ROOT_ELEMENTS["MCF"].localname,
             "header": {"RequestingPartyID": header.get("RequestingPartyID"), "MCFCounter": header.get("MCFCounter")}}
    if signifier:
        facts["route"] = {"supplier_signifier": signifier}
    return facts
