"""TMAD Clause 5.10 and Table 5.10: the DCC's Common Validation Checks, the MVF, the CLI.

The rows' own pass/fail/exemption/boundary witnesses run in test_witnesses.py (every witness of
rules/tmad/table-5.10.yaml, clause-5.8.yaml, clause-5.10.yaml, clause-5.12.yaml through the
generated checks); here: SupportingData and device order, the MVF element by element, the 5.10(a)
plan, the CLI, bad input, and the cached World against the World.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from tmadkit import registry as checks_registry
from tmadkit.authentication.context import AuthContext
from tmadkit.authentication.received import ReceivedFile
from tmadkit.authentication.validate import validate_file
from tmadkit.authentication.witness import evaluate, example_world, witness_pki
from tmadkit.cli import main
from tmadkit.common_validation import CommonValidation, extract, run
from tmadkit.common_validation.cached_world import CachedWorld
from tmadkit.common_validation.distribution import plan as distribution_plan
from tmadkit.common_validation.process import process_mcf
from tmadkit.errors import InputError
from tmadkit.files.build import build
from tmadkit.rules import load_all
from tmadkit.smki.registry import Registry
from tmadkit.stores.counters import CounterStore
from tmadkit.world import example_dir
from tmadkit.xml import safe, schema

AT = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)     # the example world's reference time
M = "{" + schema.NAMESPACE + "}"
DS = "{" + schema.DS_NAMESPACE + "}"

CHF = {"manufacturer": "Acme Hubs", "model": "AH-CHF-1", "firmware_version": "1.0"}
ESME = {"manufacturer": "Volt Meters", "model": "VM-E1", "firmware_version": "2.1", "mpan": "1900000000011"}
GSME = {"manufacturer": "Gasworks", "model": "GW-G1", "firmware_version": "3.0", "mprn": "1000000011"}
PPMID = {"manufacturer": "Paypoint Devices", "model": "PD-P1", "firmware_version": "1.4"}
IHD = {"manufacturer": "Display Co", "model": "DC-IHD", "firmware_version": "5.0"}


def elec(**over) -> dict:
    """An AA electricity-only installation that passes every row against the example world."""
    inst = {"chf": dict(CHF), "esme": dict(ESME), "gsme": False, "ppmid": False, "ihd": dict(IHD), "cad": False}
    for k, v in over.items():
        inst[k] = {**inst[k], **v} if isinstance(v, dict) and isinstance(inst.get(k), dict) else v
    return inst


# Each installation fails a different row (one fails several); expected (steps, SupportingData kind).
CASES = [
    ("passes", elec(), []),
    ("in-smi", elec(chf={"device_id": "00-0D-6F-00-00-09-00-01"}), [("5.10.4", "device_id")]),
    ("expired", elec(esme={"certificates": {"critical_supplier": "supplier-ds-expired"}}), [("5.10.5", "certificate")]),
    ("two-suppliers", elec(esme={"certificates": {"non_critical_supplier": "supplier-b-ka"}}),
     [("5.10.8", "certificate_pair")]),
    ("not-import-supplier", elec(esme={"certificates": {"critical_supplier": "supplier-b-ds",
                                                        "non_critical_supplier": "supplier-b-ka"}}),
     [("5.10.9", "certificate")]),
    ("supplier-change", elec(esme={"mpan": "1900000000022"}), [("5.10.10", None)]),
    ("network-split", elec(esme={"certificates": {"non_critical_network_operator": "supplier-ka"}}),
     [("5.10.11", "certificate_pair")]),
    ("gas-split", elec(gsme=dict(GSME), ppmid=dict(PPMID),
                       gpf={"certificates": {"critical_network_operator": "NULL",
                                             "non_critical_network_operator": "NULL",
                                             "critical_supplier": "supplier-b-ds",
                                             "non_critical_supplier": "supplier-b-ka"}}),
     [("5.10.13", "certificate_pair")]),
    ("several", elec(gpf={"device_id": "00-0D-6F-00-00-09-00-02"}, esme={
        "firmware_version": "2.2", "mpan": "1900000000022", "certificates": {"critical_supplier": "supplier-ds-expired"}}),
     [("5.10.2", "device_id"), ("5.10.3", None), ("5.10.4", "device_id"), ("5.10.5", "certificate"),
      ("5.10.10", None)]),
]


@pytest.fixture(scope="module")
def built():
    spec = {"type": "MCF", "MCFCounter": 41, "group_id": "AA",
            "installations": [inst for _, inst, _ in CASES]}
    return build(spec, witness_pki(), now=AT)


@pytest.fixture(scope="module")
def processed(built, tmp_path_factory):
    out = tmp_path_factory.mktemp("mvf")
    received = ReceivedFile(built.name, built.content)
    result = process_mcf(received, example_world(), AT, pki=witness_pki(), emit_dir=out, mvf_counter=5)
    return received, result, out


def _registry() -> Registry:
    r = Registry(":memory:")
    witness_pki().load_into(r)
    return r


def test_plan_runs_every_row_in_order_with_the_declared_readings():
    steps = [s for s, _, _ in run.plan()]
    assert list(dict.fromkeys(steps)) == [f"5.10.{n}" for n in range(1, 19)]
    rules = {r for _, r, _ in run.plan()}
    assert "TMAD-T5.10-5.10.9-party-undefined-skipped" in rules
    assert "TMAD-T5.10-5.10.9-party-undefined-fails" not in rules
    proc = run.procedure()
    assert proc.stop_at_first_failure is False
    questions = {r.disputed["question"] for r in load_all() if r.disputed and r.file.endswith("table-5.10.yaml")}
    assert questions == set(proc.readings)


def test_mvf_element_by_element(built, processed):
    received, result, out = processed
    mcf_root = safe.parse_bytes(built.content).getroot()
    chfs = [extract.chf_of(extract.installation(el)) for el in extract.installations(mcf_root)]
    mvf = result["mvf"]
    path = out / mvf["file"]
    assert path.is_file()
    content = path.read_bytes()
    root = safe.parse_bytes(content).getroot()
    assert etree.QName(root).localname == "MigrationValidation"
    assert schema.validate(root, file_type="MVF") == []
    # header: the MCF's Migration Header (5.10(b)), the S1SP-role signer's ID, the counter given
    pki_s1sp = witness_pki().entry(mvf["signer"])
    assert pki_s1sp.role == "s1SPMigrationSigning"
    header = [(etree.QName(c).localname, c.text) for c in root if etree.QName(c).localname not in
              ("SMETS1Installation", "Signature")]
    assert header == [("RequestingPartyID", received.header["RequestingPartyID"]), ("MCFCounter", "41"),
                      ("ReportingPartyID", pki_s1sp.entity_id), ("MVFCounter", "5"), ("GroupID", "AA")]
    # name per Table 10.2
    assert mvf["file"] == f"MVF_{pki_s1sp.entity_id}_41_5.xml"
    assert mvf["naming_rule"] == "TMAD-T10.2-MVF"
    # one entry per installation, in MCF order, keyed by the CHF DeviceID (5.10(c))
    entries = root.findall(M + "SMETS1Installation")
    assert [e.findtext(M + "CHFIdentifier") for e in entries] == chfs
    assert [i["chf"] for i in result["installations"]] == chfs
    for (name, _, expected), entry, json_entry in zip(CASES, entries, result["installations"]):
        checks = entry.findall(M + "FailedCheck")
        assert [c.findtext(M + "FailedStepNumber") for c in checks] == [s for s, _ in expected], name
        assert [f["step"] for f in json_entry["failed_checks"]] == [s for s, _ in expected], name
        for (step, kind), check in zip(expected, checks):
            sd = check.find(M + "SupportingData")
            if kind is None:
                assert sd is None, (name, step)
                continue
            element = {"device_id": "DeviceID", "certificate": "CertificateID",
                       "certificate_pair": "CertificatePair"}[kind]
            assert [etree.QName(c).localname for c in sd] == [element], (name, step)
    # SupportingData values: the Device / certificate the row names
    by_name = dict(zip([c[0] for c in CASES], entries))
    assert by_name["in-smi"].findtext(f"{M}FailedCheck/{M}SupportingData/{M}DeviceID") == "00-0D-6F-00-00-09-00-01"
    expired = witness_pki().entry("supplier-ds-expired").cert_id
    cid = by_name["expired"].find(f"{M}FailedCheck/{M}SupportingData/{M}CertificateID/{M}X509IssuerSerial")
    assert cid.findtext(DS + "X509IssuerName") == expired.issuer_string
    assert cid.findtext(DS + "X509SerialNumber") == str(expired.serial)
    pair = by_name["two-suppliers"].find(f"{M}FailedCheck/{M}SupportingData/{M}CertificatePair")
    serials = [c.findtext(f"{M}X509IssuerSerial/{DS}X509SerialNumber") for c in pair]
    assert serials == [str(witness_pki().entry("supplier-ds").cert_id.serial),
                       str(witness_pki().entry("supplier-b-ka").cert_id.serial)]
    gas_pair = by_name["gas-split"].find(f"{M}FailedCheck/{M}SupportingData/{M}CertificatePair")
    assert [c.findtext(f"{M}X509IssuerSerial/{DS}X509SerialNumber") for c in gas_pair] == \
        [str(witness_pki().entry("supplier-b-ds").cert_id.serial), str(witness_pki().entry("supplier-b-ka").cert_id.serial)]
    # the 5.10(b) and (c) rules hold for this MVF
    facts = {"mcf": {"header": received.header, "chfs": chfs},
             "mvf": {"header": {"RequestingPartyID": root.findtext(M + "RequestingPartyID"),
                                "MCFCounter": int(root.findtext(M + "MCFCounter"))},
                     "chfs": [e.findtext(M + "CHFIdentifier") for e in entries]}}
    for rid in ("TMAD-5.10-b-MVF-header", "TMAD-5.10-c-MVF-installations"):
        assert checks_registry.check(rid)(facts).status == "pass", rid


def test_the_mcf_is_let_go_before_the_mvf_is_built(processed):
    """process_mcf is the last reader of the MCF: its tree (2 GB for 400 MB) is not kept while the
    MVF is built, and asking for it afterwards is an error, never a parse of other bytes."""
    received, result, _ = processed
    assert received.header["MCFCounter"] == 41 and received.file_type == "MCF"
    assert received.content == b""
    with pytest.raises(RuntimeError, match="released"):
        received.tree


@pytest.mark.parametrize("authenticator", ["Requesting Party", "S1SP", "DCO"])
def test_recipients_authenticate_the_mvf(processed, authenticator):
    """Clause 5.11: the Requesting Party, the S1SP and the DCO authenticate the MVF (Table 5.9)."""
    _, result, out = processed
    path = out / result["mvf"]["file"]
    ctx = AuthContext(authenticator, _registry(), CounterStore(":memory:"), AT)
    r = validate_file(ReceivedFile.read(path), ctx)
    assert r["accepted"], r["failure"]
    assert r["naming"]["status"] == "pass"


def test_mvf_tampered_after_signing_is_rejected(processed):
    _, result, out = processed
    content = (out / result["mvf"]["file"]).read_bytes().replace(b"<FailedStepNumber>5.10.4<",
                                                                  b"<FailedStepNumber>5.10.7<", 1)
    ctx = AuthContext("Requesting Party", _registry(), CounterStore(":memory:"), AT)
    r = validate_file(ReceivedFile(result["mvf"]["file"], content), ctx)
    assert not r["accepted"] and r["failure"]["step"] == "5.9.2"


def test_distribution_plan(processed):
    _, result, _ = processed
    d = result["distribution"]
    assert d["distributed"] and d["reading"] == "TMAD-5.10-opening-table-5.9"
    assert [r["recipient"] for r in d["recipients"]] == ["S1SP", "DCO", "Commissioning Party"]
    assert set(d["verdicts"].values()) <= {"pass", "not_applicable"}


def test_distribution_to_the_responsible_supplier_is_renamed():
    header = {"RequestingPartyID": "02-7D-00-00-00-00-01-01", "MCFCounter": 41, "ToBeCommissionedByDCC": False}
    d = distribution_plan(header, accepted=True, installations_failed=3, signifier="SUPA")
    assert d["recipients"] == [{"recipient": "S1SP", "file": "MCF_02-7D-00-00-00-00-01-01_41_0.xml"},
                               {"recipient": "DCO", "file": "MCF_02-7D-00-00-00-00-01-01_41_0.xml"},
                               {"recipient": "Responsible Supplier", "file": "MCF_SUPA_02-7D-00-00-00-00-01-01_41_0.xml"}]
    assert d["verdicts"]["TMAD-5.10-a-recipients-responsible-supplier"] == "pass"


# ---------------------------------------------------------------- SupportingData and order


def _witness(rule_id: str, witness_id: str):
    rule = load_all().by_id()[rule_id]
    return next(w for w in rule.witnesses if w.id == witness_id)


@pytest.mark.parametrize("rule_id, witness_id, evidence", [
    ("TMAD-T5.10-5.10.1", "chf-not-listed", {"device_id": "00-0D-6F-00-00-01-00-01"}),
    ("TMAD-T5.10-5.10.1", "ppmid-not-listed", {"device_id": "00-0D-6F-00-00-01-00-05"}),
    ("TMAD-T5.10-5.10.4", "cad-recorded", {"device_id": "00-0D-6F-00-00-09-00-07"}),
    ("TMAD-T5.10-5.10.18", "cad-says-ihd", {"device_id": "00-0D-6F-00-00-01-00-07"}),
    ("TMAD-T5.10-5.10.3", "combination-not-for-ba", None),
    ("TMAD-T5.10-5.10.10", "change-in-5-days", None),
])
def test_supporting_data(rule_id, witness_id, evidence):
    verdict = evaluate(checks_registry.check(rule_id), _witness(rule_id, witness_id).facts)
    assert verdict.status == "fail"
    assert verdict.evidence == evidence
    assert verdict.to_dict().get("evidence") == evidence


def test_first_device_in_the_rows_order_is_reported():
    w = _witness("TMAD-T5.10-5.10.4", "none-recorded").facts
    inst = {**w["installation"],
            "ihd": {**w["installation"]["ihd"], "device_id": "00-0D-6F-00-00-09-00-06"},
            "gpf": {**w["installation"]["gpf"], "device_id": "00-0D-6F-00-00-09-00-02"}}
    verdict = evaluate(checks_registry.check("TMAD-T5.10-5.10.4"), {**w, "installation": inst})
    assert verdict.evidence == {"device_id": "00-0D-6F-00-00-09-00-02"}      # GPF before IHD


def test_certificate_evidence_names_the_invalid_certificate():
    verdict = evaluate(checks_registry.check("TMAD-T5.10-5.10.5"),
                       _witness("TMAD-T5.10-5.10.5", "revoked-non-critical-supplier").facts)
    cid = example_world().certificate_id("supplier-ka-revoked")
    assert verdict.evidence == {"certificate": {"issuer": cid.issuer_string, "serial": str(cid.serial)}}


# ---------------------------------------------------------------- bad input


def test_absent_parties_models_and_certificates_are_failed_checks_not_exceptions():
    cv = CommonValidation(example_world(), AT)
    base = _witness("TMAD-T5.10-5.10.1", "all-listed").facts
    from tmadkit.authentication.witness import materialise

    inst = dict(materialise(base)["installation"])
    weird = {
        "chf": {**inst["chf"], "manufacturer": "Nobody Ltd", "device_id": "not-an-eui"},
        "gpf": {"device_id": "00-0D-6F-00-00-01-00-02"},                      # no certificates at all
        "esme": {**inst["esme"], "mpan": "0000000000000",
                 "certificates": {"critical_network_operator": {"issuer": "not a DN", "serial": "x"},
                                  "non_critical_network_operator": {"issuer": "CN=NOBODY,OU=07", "serial": "7"},
                                  "critical_supplier": {"issuer": "CN=NOBODY,OU=07", "serial": "8"},
                                  "non_critical_supplier": "NULL"}},
        "gsme": {"device_id": "00-0D-6F-00-00-01-00-04", "mprn": "1"},
    }
    result = cv.check("ZZ", weird)
    steps = [f.step for f in result.failed_checks]
    assert {"5.10.1", "5.10.2", "5.10.3", "5.10.5", "5.10.6", "5.10.8", "5.10.11"} <= set(steps)
    assert all(not f.detail.startswith("error:") for f in result.failed_checks), result.failed_checks
    empty = cv.check(None, {})
    assert {f.step for f in empty.failed_checks} >= {"5.10.1", "5.10.4", "5.10.5"}
    assert all(not f.detail.startswith("error:") for f in empty.failed_checks)


# ---------------------------------------------------------------- the cached World


def test_cached_world_answers_as_the_world():
    world = example_world()
    cached = CachedWorld(world)
    mpans = [f"19000000000{n}{n}" for n in range(1, 7)] + ["1900000000999"]
    mprns = [f"10000000{n}{n}" for n in range(1, 5)]
    cached.prefetch([{"esme": {"mpan": m, "device_id": "00-0D-6F-00-00-09-00-03"}} for m in mpans]
                    + [{"gsme": {"mprn": m}} for m in mprns])
    for days in (1, 7, 8, 14):
        for delta in (-timedelta(days=10), -timedelta(seconds=1), timedelta(0), timedelta(days=3)):
            at = AT + delta
            for m in mpans:
                for role in ("import_supplier", "electricity_distributor"):
                    assert cached.registered(m, role, at) == world.registered(m, role, at)
                    assert cached.change_within(m, role, at, days) == world.change_within(m, role, at, days)
            for m in mprns:
                for role in ("gas_supplier", "gas_transporter"):
                    assert cached.change_within(m, role, at, days) == world.change_within(m, role, at, days)
    assert cached.in_smi("00-0D-6F-00-00-09-00-03") and not cached.in_smi("00-0D-6F-00-00-01-00-03")
    assert cached.in_smi("00-0D-6F-00-00-09-00-07") == world.in_smi("00-0D-6F-00-00-09-00-07")
    cached.close()


# ---------------------------------------------------------------- streamed and memoised runs


def _plain_verdicts(inst: dict, group_id: str | None = "AA") -> list[tuple]:
    """Each Table 5.10 rule's failure on one installation, checked against the World itself
    (no CachedWorld: no batches, no memo)."""
    facts = {"group_id": group_id, "at": AT, "context": {"world": example_world()}, "installation": inst}
    out = []
    for step, rule_id, check in run.plan():
        v = check(facts)
        if v.status == "fail":
            out.append((step, rule_id, v.detail, v.evidence))
    return out


def test_streamed_memoised_run_equals_the_checks_on_the_world(built):
    """The path a large MCF takes (a streamed parse, a CachedWorld, results memoised per
    distinct set of Certificate IDs) reports what each generated check says on its own."""
    root = safe.parse_bytes(built.content).getroot()
    installations = [extract.installation(el) for el in extract.installations(root)]
    expected = [_plain_verdicts(i) for i in installations]
    cv = CommonValidation(example_world(), AT)
    for _ in range(2):                                   # the second pass answers from the memo
        streamed = list(cv.run_stream(built.content, file=built.name))
        assert [[(f.step, f.rule, f.detail, f.supporting_data) for f in r.failed_checks] for r in streamed] == expected
    assert cv.world.memo, "the certificate rows were not memoised"
    assert [r.to_dict() for r in streamed] == [r.to_dict() for r in cv.run_mcf(root)]
    assert [r.chf for r in streamed] == [extract.chf_of(i) for i in installations]


def test_memo_keys_hold_everything_the_certificate_rows_read():
    """Two installations whose Certificate IDs differ only in how they are written (issuer text,
    a non-string serial, an extra key) never share a memoised answer."""
    cv = CommonValidation(example_world(), AT)
    base = extract.installation(next(extract.installations(
        safe.parse_bytes(build({"type": "MCF", "MCFCounter": 1, "group_id": "AA", "installations": [elec()]},
                               witness_pki(), now=AT).content).getroot())))
    cert = base["esme"]["certificates"]["critical_supplier"]
    variants = [cert, {**cert, "serial": int(cert["serial"])}, {**cert, "note": "x"},
                {**cert, "issuer": cert["issuer"] + " "}, {"issuer": cert["issuer"]}, "NULL"]
    for value in variants:
        inst = {**base, "esme": {**base["esme"], "certificates": {**base["esme"]["certificates"],
                                                                   "critical_supplier": value}}}
        got = [(f.step, f.rule, f.detail, f.supporting_data) for f in cv.check("AA", inst).failed_checks]
        assert got == _plain_verdicts(inst), value


# The rows decided once per installation shape: every row but those that look up a DeviceID
# (5.10.4), an MPAN or an MPRN (the registration rows and 5.10.17's need for a GSME MPRN).
IDENTIFIER_READERS = {"TMAD-T5.10-5.10.4", "TMAD-T5.10-5.10.9-party-undefined-skipped", "TMAD-T5.10-5.10.10",
                      "TMAD-T5.10-5.10.12-party-undefined-skipped", "TMAD-T5.10-5.10.14-party-undefined-skipped",
                      "TMAD-T5.10-5.10.15", "TMAD-T5.10-5.10.17-needs-gsme",
                      "TMAD-T5.10-5.10.17-party-undefined-skipped"}


def test_identifier_blind_rules_are_the_rows_that_read_no_identifier():
    assert {r for _, r, _ in run.plan()} - run.identifier_blind_rules() == IDENTIFIER_READERS
    assert run._reads_identifiers({"present": {"fact": "installation.gsme.mprn"}})
    assert run._reads_identifiers({"cpl_listed": {"installation": "installation", "devices": ["chf"],
                                                  "world": "context.world"}}) is False
    assert run._reads_identifiers({"all": [{"present": {"fact": "installation.esme"}},
                                           {"null_certificate_id": {"certificate": "installation.esme.device_id"}}]})
    # a primitive not declared identifier-blind reads identifiers if it reads the installation at all
    assert run._reads_identifiers({"equals": {"fact": "installation.chf", "value": {}}})
    assert run._reads_identifiers({"one_of": {"fact": "group_id", "values": ["AA"]}}) is False


def _swap_identifiers(node, n: int):
    """The facts with every DeviceID, MPAN and MPRN replaced (n picks which replacement)."""
    if isinstance(node, dict):
        return {k: ({"device_id": ["00-0D-6F-00-00-09-00-01", "00-0D-6F-00-00-01-00-99", "", 7][n],
                     "mpan": ["1900000000022", "1900000000999", "", None][n],
                     "mprn": ["1000000022", "1000000999", "", 0][n]}[k] if k in extract.IDENTIFIERS
                    else _swap_identifiers(v, n)) for k, v in node.items()}
    if isinstance(node, list):
        return [_swap_identifiers(v, n) for v in node]
    return node


def test_identifier_blind_rules_give_every_witness_the_same_status_whatever_its_identifiers():
    """The claim behind deciding a row once per shape, tried on each row's witnesses: with
    its DeviceIDs, MPANs and MPRNs changed (to ones in the SMI, unregistered, empty or not text)
    the row passes, fails or does not apply exactly as before."""
    rules = {r.id: r for r in load_all()}
    tried = 0
    blind, blind_applicability = run.identifier_blind_rules(), run.identifier_blind_applicability()
    for rule_id in sorted(blind | blind_applicability):
        check = checks_registry.check(rule_id)
        # of a rule whose predicate reads identifiers, only whether it applies is the same
        seen = (lambda v: v.status) if rule_id in blind else (lambda v: v.status == "not_applicable")
        for w in rules[rule_id].witnesses:
            status = seen(evaluate(check, w.facts))
            for n in range(4):
                try:
                    swapped = evaluate(check, _swap_identifiers(w.facts, n))
                except InputError:   # a witness built as a real MCF cannot hold an empty or non-text one
                    assert n >= 2, (rule_id, w.id, n)
                    continue
                assert seen(swapped) == status, (rule_id, w.id, n)
                tried += 1
    assert tried > 150 and blind_applicability - blind


def test_shape_leaves_out_identifiers_and_nothing_else():
    inst = elec(gsme=dict(GSME))
    assert extract.shape(inst) == extract.shape(_swap_identifiers(inst, 1))
    for other in (elec(esme={"firmware_version": "2.2"}), elec(esme={"variant": "A"}), elec(gsme={"mprn": "1"}),
                  elec(esme={"firmware_version": 2.1}), elec(ihd=False), {**elec(), "cad": None}):
        assert extract.shape(other) != extract.shape(inst)
    assert extract.shape({"chf": {"model": "1"}}) != extract.shape({"chf": {"model": 1}})
    assert extract.shape({"chf": {"c": {}}}) != extract.shape({"chf": {"c": []}})
    assert extract.shape("not an installation") is None


def _walked(el) -> dict:
    """The installation's facts read level by level, as the MCF schema nests them: the
    reference extract.keyed's one flat pass must agree with on every schema-valid MCF."""
    def text(e):
        return e.text.strip() if e.text else ""

    fields = {M + "DeviceID": "device_id", M + "ImportMPAN": "mpan", M + "MPRN": "mprn", M + "ESMEVariant": "variant"}
    detail = {M + k: v for k, v in extract.DETAIL_FIELD.items()}
    slots = {M + k: v for k, v in extract.SLOT_OF_ELEMENT.items()}
    kinds = {M + k: v for k, v in extract.KIND_OF_DETAIL.items()}
    out = {}
    for d in el:
        if d.tag not in kinds:
            continue
        dev, certs = {}, {}
        for child in d:
            if child.tag in fields:
                dev[fields[child.tag]] = text(child)
            elif child.tag == M + "DeviceDetail":
                dev.update({detail[x.tag]: text(x) for x in child if x.tag in detail})
            elif child.tag in slots:
                cert = {"issuer": "", "serial": ""}
                for part in child:
                    for x in part:
                        if x.tag in (DS + "X509IssuerName", DS + "X509SerialNumber"):
                            cert["issuer" if x.tag.endswith("Name") else "serial"] = text(x)
                certs[slots[child.tag]] = cert
        if certs:
            dev["certificates"] = certs
        out[kinds[d.tag]] = dev
    return out


def _without_identifiers(facts: dict) -> dict:
    return {kind: {k: v for k, v in dev.items() if k not in extract.IDENTIFIERS} for kind, dev in facts.items()}


# Installations that differ from elec() in one thing that is not an identifier, each its own shape.
VARIANTS = [elec(), elec(esme={"firmware_version": "2.2"}), elec(esme={"variant": "B"}), elec(gsme=dict(GSME)),
            elec(ppmid=dict(PPMID)), elec(ihd=False), elec(cad=dict(IHD, model="DC-CAD")),
            elec(chf={"model": "AH-CHF-2"}), elec(esme={"certificates": {"critical_supplier": "supplier-b-ds"}}),
            elec(esme={"certificates": {"critical_supplier": "NULL"}}),
            elec(gpf={"certificates": {"critical_supplier": "supplier-b-ds"}})]


@pytest.fixture(scope="module")
def variants_mcf():
    mcf = build({"type": "MCF", "MCFCounter": 1, "group_id": "AA", "installations": VARIANTS * 3}, witness_pki(),
                now=AT)
    tree = safe.parse_bytes(mcf.content)
    assert schema.validate(tree, file_type="MCF") == []
    return [*extract.installations(tree.getroot())]


def test_the_flat_pass_reads_what_a_walk_by_level_reads(variants_mcf, built):
    for el in [*variants_mcf, *extract.installations(safe.parse_bytes(built.content).getroot())]:
        facts, _ = extract.keyed(el)
        assert facts == _walked(el) and extract.installation(el) == facts


def test_the_key_is_equal_exactly_for_installations_alike_but_for_identifiers(variants_mcf):
    keyed = [extract.keyed(el) for el in variants_mcf]
    assert len({extract.chf_of(f) for f, _ in keyed}) == len(keyed)          # every DeviceID differs
    assert len({k for _, k in keyed}) == len(VARIANTS)                        # ... but 11 shapes, no more
    for f1, k1 in keyed:
        for f2, k2 in keyed:
            assert (k1 == k2) == (_without_identifiers(f1) == _without_identifiers(f2))
    # an int at every even place: never a shape() of facts not read from a file
    assert all(type(x) is int for _, k in keyed for x in k[0::2])
    assert not {k for _, k in keyed} & {extract.shape(f) for f, _ in keyed}


def test_the_flat_pass_never_raises_on_what_the_schema_would_refuse():
    xml = (f'<SMETS1Installation xmlns="{schema.NAMESPACE}" xmlns:ds="{schema.DS_NAMESPACE}">'
           "<DeviceID>before any Device</DeviceID><ds:X509IssuerName>loose</ds:X509IssuerName>"
           "<CHFDetail><DeviceID> 00-01 </DeviceID><?pi x?><ds:X509SerialNumber>no certificate</ds:X509SerialNumber>"
           "<CriticalSupplierCertificateID><X509IssuerSerial><ds:X509SerialNumber>7</ds:X509SerialNumber>"
           "</X509IssuerSerial></CriticalSupplierCertificateID><Other><DeviceType>deep</DeviceType></Other></CHFDetail>"
           "<CHFDetail><DeviceModel/></CHFDetail></SMETS1Installation>")
    facts, key = extract.keyed(etree.fromstring(xml))
    assert facts == {"chf": {"model": ""}}      # the second CHFDetail replaces the first, as a dict does
    assert len(key) % 2 == 0 and key != extract.keyed(etree.fromstring(xml.replace("<CHFDetail><DeviceModel/>", "<CHFDetail><DeviceModel>x</DeviceModel>")))[1]


def test_rows_decided_per_shape_report_each_installations_own_failures():
    """Installations alike but for their identifiers, failing and passing the shape-decided rows
    (5.10.2, 5.10.3, 5.10.5): each gets exactly the FailedChecks its own checks give, its
    SupportingData naming its own Devices."""
    variants = [inst for name, inst, _ in CASES if name in ("passes", "expired")] + [elec(esme={"firmware_version": "2.2"})]
    mcf = build({"type": "MCF", "MCFCounter": 1, "group_id": "AA", "installations": variants * 4}, witness_pki(), now=AT)
    insts = [extract.installation(el) for el in extract.installations(safe.parse_bytes(mcf.content).getroot())]
    assert len({extract.chf_of(i) for i in insts}) == 12 and len({extract.shape(i) for i in insts}) == 3
    cv = CommonValidation(example_world(), AT)
    got = [[(f.step, f.rule, f.detail, f.supporting_data) for f in r.failed_checks] for r in cv.run("AA", insts)]
    assert got == [_plain_verdicts(i) for i in insts]
    steps = [{f[0] for f in g} for g in got]
    assert steps[0::3] == [set()] * 4 and steps[1::3] == [{"5.10.5"}] * 4 and steps[2::3] == [{"5.10.2", "5.10.3"}] * 4
    assert len({g[0][3]["device_id"] for g in got[2::3]}) == 4           # each its own ESME
    assert len(cv._shapes) == 3 and all(m.settled and m.applies for m in cv._shapes.values())


def test_stream_refuses_what_the_parser_refuses_and_skips_other_files():
    with pytest.raises(safe.XMLInputError) as exc:
        list(safe.stream_children(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "x", "y", file="evil.xml"))
    assert exc.value.kind == "doctype"
    with pytest.raises(safe.XMLInputError):
        list(extract.stream(b"<MigrationCommon xmlns='" + schema.NAMESPACE.encode() + b"'><SMETS1Installation>",
                            file="cut.xml"))
    other = b"<MigrationError xmlns='" + schema.NAMESPACE.encode() + b"'><SMETS1Installation/></MigrationError>"
    assert list(extract.stream(other)) == []


def test_rejected_mcf_gets_no_table_5_10_and_leaves_no_worker(cli_files, capsys, tmp_path):
    import threading

    d, mcf, _ = cli_files
    data = mcf.read_bytes()
    tampered = tmp_path / mcf.name
    tampered.write_bytes(data.replace(b"<MCFCounter>7<", b"<MCFCounter>9<", 1))   # signed content changed
    args = ["validate", str(tampered), "--as", "DCC", "--world", str(example_dir()), "--pki", str(d / "pki"),
            "--state", str(tmp_path / "state"), "--at", AT.isoformat(), "--json", "--emit-mvf", str(tmp_path / "out")]
    assert main(args) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["accepted"] is False and doc["failure"]["step"] == "5.9.2"
    assert "installations" not in doc and not (tmp_path / "out").exists()
    assert not [t for t in threading.enumerate() if t.name == "tmadkit-table-5.10"]


# ---------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    from tmadkit.smki import pki

    d = tmp_path_factory.mktemp("cli")
    p = pki.init(d / "pki", now=AT)
    spec = {"type": "MCF", "MCFCounter": 7, "group_id": "AA", "installations": [
        elec(), elec(esme={"mpan": "1900000000044"}), elec(chf={"device_id": "00-0D-6F-00-00-09-00-01"})]}
    b = build(spec, p, now=AT)
    (d / b.name).write_bytes(b.content)
    b2 = build({**spec, "MCFCounter": 8}, p, now=AT)
    (d / b2.name).write_bytes(b2.content)
    return d, d / b.name, d / b2.name


def test_cli_validate_world_json_and_emit_mvf(cli_files, capsys):
    d, mcf, _ = cli_files
    args = ["validate", str(mcf), "--as", "DCC", "--world", str(example_dir()), "--pki", str(d / "pki"),
            "--state", str(d / "state"), "--at", AT.isoformat(), "--json", "--emit-mvf", str(d / "out")]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["accepted"] is True
    assert [[f["step"] for f in i["failed_checks"]] for i in doc["installations"]] == \
        [[], ["5.10.9", "5.10.12"], ["5.10.4"]]
    assert doc["installations"][2]["failed_checks"][0]["supporting_data"] == {"device_id": "00-0D-6F-00-00-09-00-01"}
    assert set(doc["installations"][0]) >= {"chf", "failed_checks"}
    mvf = d / "out" / doc["mvf"]["file"]
    assert mvf.is_file() and doc["mvf"]["header"]["MVFCounter"] == 1
    # the next MCF from the Requesting Party gets the next MVFCounter (kept in --state)
    assert main([*args[:1], str(cli_files[2]), *args[2:]]) == 0
    assert json.loads(capsys.readouterr().out)["mvf"]["header"]["MVFCounter"] == 2
    # Clause 5.11: the Requesting Party authenticates it
    assert main(["validate", str(mvf), "--as", "RP", "--pki", str(d / "pki"), "--state", str(d / "rp-state"),
                 "--at", AT.isoformat(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] is True


def test_cli_without_world_has_no_installations(cli_files, capsys):
    d, mcf, _ = cli_files
    assert main(["validate", str(mcf), "--as", "DCC", "--pki", str(d / "pki"), "--state", str(d / "s2"),
                 "--at", AT.isoformat(), "--json"]) == 0
    assert "installations" not in json.loads(capsys.readouterr().out)


def test_cli_emit_mvf_needs_world_and_pki(cli_files, capsys):
    d, mcf, _ = cli_files
    assert main(["validate", str(mcf), "--as", "DCC", "--emit-mvf", str(d / "x"), "--at", AT.isoformat()]) == 2
    assert "--emit-mvf needs" in capsys.readouterr().err


def test_messages_name_the_check_time_as_given():
    """Memoised wording never swaps one offset for another of the same instant."""
    from tmadkit.runtime import common_validation as cvp

    inst = {"esme": {"mpan": "1900000000022"}}
    for at in (AT, AT.astimezone(timezone(timedelta(hours=1)))):
        facts = {"at": at, "context": {"world": example_world()}, "installation": inst}
        r = cvp.no_registration_change(facts, mpxn="installation.esme.mpan", role="import_supplier",
                                       world="context.world", at="at", days=7)
        assert at.isoformat() in r.detail
