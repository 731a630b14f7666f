"""The Migration Group Encrypted File data validation (TMAD Tables 12.7, 13.9, 14.8, 16.7) over
real MEFs: extraction of an entry, the primitives' findings, and witnesses that must stay valid."""
from __future__ import annotations

import pytest

from tmadkit import registry
from tmadkit.authentication.witness import WITNESS_TIME, materialise, witness_pki
from tmadkit.files.build import build
from tmadkit.group_validation import extract
from tmadkit.runtime import group_validation as g
from tmadkit.xml import safe, schema

DA = {"type": "MEF", "group_id": "DA", "installations": [{"gsme": True}, {"gsme": False}]}
MCF_DA = {"build": {"type": "MCF", "group_id": "DA", "installations": [{"gsme": True}, {"gsme": False}]}}


def _entries(spec, edit=None):
    root = safe.parse_bytes(build(spec, witness_pki(), now=WITNESS_TIME).content).getroot()
    for node in root.xpath(edit[0], namespaces={"m": schema.NAMESPACE}) if edit else ():
        node.text = edit[1]
    assert not schema.validate(root, file_type="MEF", unsigned=True)
    return [extract.entry(el) for el in extract.entries(root)]


def test_an_empty_public_key_passes_the_schema_and_fails_16_7_5_for_its_installation_only():
    """The schema lets an empty PublicKey through (README P2), and Table 11.3B's key check
    skips it; 16.7.5 is what refuses it, for that installation and not the other."""
    entries = _entries(DA, ("(//m:SMETS1Installation)[1]/m:SUAKeyDetails[2]/m:PublicKey", ""))
    check = registry.check("TMAD-T16.7-16.7.5-dco")
    first = check({"group_id": "DA", "entry": entries[0]})
    assert first.status == "fail"
    assert "entry.SUAKeyDetails[2] (GSME): PublicKey is empty" in first.detail
    assert check({"group_id": "DA", "entry": entries[1]}).status == "pass"


def test_extraction_keeps_every_master_key_and_the_sua_key_children_by_name():
    (entry,) = _entries({"type": "MEF", "group_id": "AA", "installations": [{"ppmid": True}]})
    assert [len(k["DeviceID"]) for k in entry["EncryptedMasterKey"]] == [3, 1]
    assert all(k["EncryptedKey"] for k in entry["EncryptedMasterKey"])
    assert entry["SUAKeyDetails"] == []
    da = _entries(DA)[0]
    assert [set(s) for s in da["SUAKeyDetails"]] == [{"EncryptedSUAKey", "DeviceType", "PublicKey", "SerialNumber"}] * 2
    assert [s["DeviceType"] for s in da["SUAKeyDetails"]] == ["ESME", "GSME"]


def test_count_items_says_what_it_counted_and_what_was_required():
    facts = {"entry": {"SUAKeyDetails": [{"DeviceType": "ESME"}, {"DeviceType": "ESME"}]}}
    r = g.count_items(facts, fact="entry.SUAKeyDetails", where={"DeviceType": "ESME"}, min=1, max=1)
    assert not r.ok and r.detail == "2 entry.SUAKeyDetails with DeviceType 'ESME', required exactly 1"
    r = g.count_items(facts, fact="entry.SUAKeyDetails", where_not={"DeviceType": "ESME"}, max=0)
    assert r.ok
    assert not g.count_items({"entry": {"SUAKeyDetails": "x"}}, fact="entry.SUAKeyDetails", max=0).ok


def test_master_key_for_names_the_device_it_did_not_find():
    facts = {"installation": {"gpf": {"device_id": "00-DB-12-00-00-00-01-A1"}},
             "entry": {"EncryptedMasterKey": [{"EncryptedKey": "AAAA", "DeviceID": ["00-DB-12-00-00-00-01-A0"]}]}}
    r = g.master_key_for(facts, keys="entry.EncryptedMasterKey", device="installation.gpf.device_id")
    assert not r.ok and "installation.gpf.device_id 00-DB-12-00-00-00-01-A1" in r.detail
    r = g.master_key_for(facts, keys="entry.EncryptedMasterKey", device="installation.esme.device_id")
    assert not r.ok and "absent" in r.detail


def test_a_witness_mef_the_schema_rejects_is_refused_not_judged():
    """Such a file is discarded whole at 5.9.1; a witness built on it would prove nothing."""
    facts = {"mef": {"build": DA, "edit": {"select": "(//m:SUAKeyDetails)[1]/m:DeviceType", "text": "WATER"}},
             "mcf": MCF_DA}
    with pytest.raises(ValueError, match="not valid against the SMETS1 Migration Schema"):
        materialise(facts)


def test_a_witness_mef_needs_the_mcf_of_its_required_file_set():
    with pytest.raises(ValueError, match="mcf: {build"):
        materialise({"mef": {"build": DA}})


def test_the_mcf_installation_is_the_one_with_the_entry_s_chf():
    facts = materialise({"mef": {"build": DA}, "mcf": MCF_DA, "installation_index": 1})
    assert facts["installation"]["chf"]["device_id"] == facts["entry"]["CHFIdentifier"]
    assert "gsme" not in facts["installation"] and facts["group_id"] == "DA"


def test_populated_names_the_absent_or_empty_part():
    facts = {"entry": {"CHFDetail": {"IMSI": " ", "SerialNumbers": {"CHF": "S1", "GPF": ""}, "Empty": {}}}}
    assert g.populated(facts, fact="entry.CHFDetail.IMSI").detail == "entry.CHFDetail.IMSI is empty"
    assert g.populated(facts, fact="entry.CHFDetail.PreviousAPN").detail == "entry.CHFDetail.PreviousAPN is absent"
    assert g.populated(facts, fact="entry.CHFDetail.SerialNumbers").detail == "entry.CHFDetail.SerialNumbers.GPF is empty"
    assert g.populated(facts, fact="entry.CHFDetail.Empty").detail == "entry.CHFDetail.Empty has no child element"
    assert g.populated(facts, fact="entry.CHFDetail.SerialNumbers.CHF").ok


def test_an_mgf_entry_without_previous_apn_fails_12_6_1_as_the_s1sp_checks_it():
    facts = materialise({"mgf": {"build": {"type": "MGF", "group_id": "BA",
                                           "installations": [None, {"comms": {"previous_apn": None}}]}},
                         "installation_index": 1})
    assert set(facts["entry"]["CHFDetail"]) == {"IMSI", "SerialNumbers"}
    verdict = registry.check("TMAD-T12.6-12.6.1")(facts)
    assert verdict.status == "fail" and verdict.detail == "entry.CHFDetail.PreviousAPN is absent"


def test_a_witness_names_one_file_to_take_the_entry_from():
    with pytest.raises(ValueError, match="not both"):
        materialise({"mgf": {"build": {"type": "MGF"}}, "mef": {"build": DA}, "mcf": MCF_DA})
