"""The reference-data world: format, loading, the query API, consistency checks.

Most tests use spec/world/example, written against reference time T (world.yaml).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml

from tmadkit.cli import main
from tmadkit.errors import InputError
from tmadkit.smki import registry as R
from tmadkit.world import DeviceModel, World, check_dir, check_world, example_dir, load_database, load_world
from tmadkit.world import bench
from tmadkit.world.load import SCHEMA_PATH, TABLES

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "spec" / "world" / "example"
T = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)
SECOND, DAY = timedelta(seconds=1), timedelta(days=1)

CHF = DeviceModel("Acme Hubs", "AH-CHF-1", "1.0")
ESME21 = DeviceModel("Volt Meters", "VM-E1", "2.1")
ESME22 = DeviceModel("Volt Meters", "VM-E1", "2.2")
ESME9 = DeviceModel("Volt Meters", "VM-E9", "9.0")
GSME = DeviceModel("Gasworks", "GW-G1", "3.0")
PPMID = DeviceModel("Paypoint Devices", "PD-P1", "1.4")
SUPPLIER_A, SUPPLIER_A_GAS = "02-7D-00-00-00-00-04-01", "02-7D-00-00-00-00-04-11"
SUPPLIER_B, SUPPLIER_C = "02-7D-00-00-00-00-04-02", "02-7D-00-00-00-00-04-03"


@pytest.fixture(scope="module")
def world():
    with load_world(EXAMPLE) as w:
        yield w


def copy_example(tmp_path: Path) -> Path:
    d = tmp_path / "world"
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("README.md"))
    return d


def read_yaml(path: Path) -> list:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=1000), encoding="utf-8")


def append_yaml(path: Path, *records: dict) -> None:
    write_yaml(path, read_yaml(path) + list(records))


# ---------------------------------------------------------------- the schema and the example


def test_schema_is_valid_2020_12_and_covers_every_table():
    doc = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"].endswith("2020-12/schema")
    assert set(doc["properties"]) == set(TABLES)
    for table, defname in TABLES.items():
        assert "description" in doc["$defs"][defname], defname  # each table says what it serves


def test_example_world_is_schema_valid_as_one_document():
    """The example world, gathered into one JSON document, is valid against the top-level schema."""
    doc = {}
    for p in EXAMPLE.iterdir():
        if p.suffix == ".yaml":
            doc[p.stem] = read_yaml(p)
        elif p.suffix == ".csv":
            doc[p.stem] = list(csv.DictReader(p.open(encoding="utf-8")))
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")),
                        cls=jsonschema.Draft202012Validator)


def test_example_dir_is_the_checkout_example():
    assert example_dir() == EXAMPLE


def test_example_world_is_consistent(world):
    assert check_world(world) == []
    assert world.reference_time == T
    assert world.counts()["certificates"] == len(bench.EXAMPLE_CERTIFICATES)


def test_cli_check_example_exits_0(capsys):
    assert main(["world", "check", str(EXAMPLE)]) == 0
    assert "consistent" in capsys.readouterr().out


def test_cli_load_json(tmp_path, capsys):
    db = tmp_path / "w.sqlite"
    assert main(["world", "load", str(EXAMPLE), "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tables"]["mpan_registrations"]["records"] == 16
    with World(db) as w:
        assert w.import_supplier("1900000000011", T) == "supplier"


# ---------------------------------------------------------------- malformed input


def small_world(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "bad"
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return d


GOOD_MPAN = ('- {mpan: "1900000000011", role: import_supplier, party: supplier, '
             'effective_from: "2024-01-01T00:00:00Z"}\n')


@pytest.mark.parametrize("name, text, expect", [
    # YAML: file, line of the field, record, field
    ("mpan_registrations__yaml",
     GOOD_MPAN + '- mpan: "1900000000022"\n  role: import_supplier\n  party: supplier\n'
                 '  effective_from: "2024-01-01"\n',
     ["mpan_registrations.yaml:5", "record 2", "field effective_from", "does not match"]),
    ("mpan_registrations__yaml",
     GOOD_MPAN + '- {mpan: "1900000000022", role: import_supplier, party: supplier, '
                 'effective_from: "2024-02-30T00:00:00Z"}\n',
     ["mpan_registrations.yaml:2", "record 2", "field effective_from", "not a valid date-time"]),
    ("mpan_registrations__yaml",
     '- {mpan: "1900000000022", role: import_supplier, party: supplier, '
     'effective_from: "2024-02-01T00:00:00Z", effective_to: "2024-01-01T00:00:00Z"}\n',
     ["record 1", "field effective_to", "must be after effective_from"]),
    ("mpan_registrations__yaml",
     '- {mpan: 1900000000022, role: import_supplier, party: supplier, effective_from: "2024-01-01T00:00:00Z"}\n',
     ["record 1", "field mpan", "is not of type 'string'"]),
    ("mpan_registrations__yaml", '- {mpan: "1900000000022", role: import_supplier, party: supplier}\n',
     ["record 1", "field effective_from", "required field is missing"]),
    ("mpan_registrations__yaml", GOOD_MPAN + '- {mpan: "1", mpan: "2"}\n',
     ["mpan_registrations.yaml:2", "duplicate key 'mpan'"]),
    # CSV: the line of the row
    ("mprn_registrations__csv",
     "mprn,role,party,effective_from\n1000000011,gas_supplier,supplier,2024-01-01T00:00:00Z\n"
     "1000000022,gas_supplier,supplier,2024-01-01T00:00:00Z\nABC,gas_supplier,supplier,2024-01-01T00:00:00Z\n",
     ["mprn_registrations.csv:4", "record 3", "field mprn", "does not match"]),
    ("mprn_registrations__csv",
     "mprn,role,party,effective_from\n1000000011,gas_shipper,supplier,2024-01-01T00:00:00Z\n",
     ["record 1", "field role", "is not one of"]),
    # JSON: unknown field, nested field path
    ("parties__json", '[{"party_id": "p", "name": "P", "party_type": "supplier", "colour": "red"}]',
     ["parties.json", "record 1", "field colour", "unknown field"]),
    ("parties__json", '[{"party_id": "p", "name": "P", "party_type": "supplier", "party_id": "q"}]',
     ["parties.json", "key 'party_id' given twice"]),
    ("eligible_product_combinations__json", json.dumps([{
        "epc_id": "e", "group_id": "AA", "smso": "S", "meters": "either",
        "devices": {"CHF": CHF._asdict(), "ESME": dict(ESME21._asdict(), firmware_version="123456789")}}]),
     ["record 1", "field devices.ESME.firmware_version", "is too long"]),
    ("eligible_product_combinations__json", json.dumps([{
        "epc_id": "e", "group_id": "AA", "smso": "S", "meters": "sometimes", "devices": {"CHF": CHF._asdict()}}]),
     ["record 1", "field "]),
    ("smart_metering_inventory__csv", "device_id\n00-0D-6F-00-00-00-00-0\n",
     ["smart_metering_inventory.csv:2", "record 1", "field device_id"]),
    # certificates: exactly one source; not a certificate at all
    ("certificates__yaml", "- {name: x, pem: abc, der_base64: AAAA}\n",
     ["certificates.yaml:1", "record 1", "exactly one of der_base64, pem, file is required"]),
    ("certificates__csv", "name,der_base64\nx,AAAAAAAA\n",
     ["certificates.csv:2", "record 1", "field der_base64", "not a valid X.509 certificate"]),
    ("certificates__yaml", "- {name: x, file: ../../etc/passwd}\n",
     ["record 1", "field file", "inside the world directory"]),
    ("world__yaml", "format: 2\n", ["world.yaml", "field format"]),
])
def test_malformed_records_name_file_record_and_field(tmp_path, name, text, expect):
    d = small_world(tmp_path, **{name: text})
    with pytest.raises(InputError) as exc:
        load_database(d, tmp_path / "w.sqlite")
    for part in expect:
        assert part in str(exc.value), str(exc.value)
    assert not (tmp_path / "w.sqlite").exists()


def test_unknown_and_repeated_table_files_are_errors(tmp_path):
    d = small_world(tmp_path, partys__yaml="[]\n")
    with pytest.raises(InputError, match="partys.yaml: not a world table"):
        load_database(d, tmp_path / "w.sqlite")
    d = small_world(tmp_path / "2", parties__yaml="[]\n", parties__csv="party_id,name,party_type\n")
    with pytest.raises(InputError, match="given twice"):
        load_database(d, tmp_path / "w.sqlite")


def test_cli_malformed_world_exits_2_with_one_line(tmp_path, capsys):
    d = small_world(tmp_path, parties__json='[{"party_id": "p"}]')
    assert main(["world", "check", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "parties.json" in err and "record 1, field name" in err


# ---------------------------------------------------------------- atomicity


def big_registrations(path: Path, n: int, bad_last: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["mpan", "role", "party", "effective_from"])
        for i in range(n):
            w.writerow([f"{1_000_000_000_000 + i:013d}", "import_supplier", "supplier", "2024-01-01T00:00:00Z"])
        if bad_last:
            w.writerow(["1999999999999", "import_supplier", "supplier", "2024-13-01T00:00:00Z"])


def test_a_bad_record_late_in_a_big_file_loads_nothing(tmp_path):
    db = tmp_path / "w.sqlite"
    load_database(EXAMPLE, db)  # a good world is already there
    before = db.read_bytes()
    d = copy_example(tmp_path)
    big_registrations(d / "mpan_registrations.csv", 50_000, bad_last=True)
    (d / "mpan_registrations.yaml").unlink()
    with pytest.raises(InputError, match=r"mpan_registrations.csv:50002 at record 50001, field effective_from"):
        load_database(d, db)
    assert db.read_bytes() == before  # the previous world is untouched ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.sqlite", "world"]  # ... and no temp files remain
    with World(db) as w:
        assert w.import_supplier("1000000000000", T) is None
        assert w.counts()["mpan_registrations"] == 16


@pytest.mark.parametrize("parallel", [False, True])
def test_a_bad_certificate_after_the_tables_loads_nothing(tmp_path, parallel):
    d = copy_example(tmp_path)
    append_yaml(d / "certificates.yaml", {"name": "broken", "der_base64": "MIIB"})
    db = tmp_path / "w.sqlite"
    with pytest.raises(InputError, match=r"certificates.yaml:\d+ at record 18, field der_base64"):
        load_database(d, db, parallel=parallel)
    assert not db.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_repeated_certificate_is_an_error(tmp_path):
    d = copy_example(tmp_path)
    certs = read_yaml(d / "certificates.yaml")
    append_yaml(d / "certificates.yaml", dict(certs[0], name="again"))
    with pytest.raises(InputError, match="record 18, field pem: Certificate ID .* repeats record 1"):
        load_database(d, tmp_path / "w.sqlite")


# ---------------------------------------------------------------- queries: products, inventory


def test_cpl_lookup(world):
    [e] = world.cpl_lookup("Volt Meters", "VM-E1", "2.1")
    assert (e.device_model, e.device_type, e.smets_chts_version) == (ESME21, "ESME", "SMETS1")
    assert {e.device_model.firmware_version for e in world.cpl_lookup("Volt Meters", "VM-E1", None)} == {"2.1", "2.2"}
    assert world.cpl_lookup("Volt Meters", "VM-E1", "2.3") == []
    assert world.cpl_lookup("volt meters", "VM-E1", "2.1") == []  # exact, as DUIS strings are
    assert [e.device_type for e in world.cpl_lookup("Display Co", "DC-IHD", "5.0")] == ["IHD"]


def test_epc_matches(world):
    dual = {"CHF": CHF, "ESME": ESME21, "GSME": GSME, "PPMID": PPMID}
    assert {e.epc_id for e in world.epc_matches(dual)} == {"epc-aa-dual-ppmid", "epc-ca-dual-ppmid-v21"}
    assert [e.epc_id for e in world.epc_matches(dual, "AA")] == ["epc-aa-dual-ppmid"]
    assert world.epc_matches(dual, "BA") == []
    # Clause 3.6 scope: AA entry is dormant-only, the CA one active-only.
    assert [e.epc_id for e in world.epc_matches(dual, None, "dormant")] == ["epc-aa-dual-ppmid"]
    assert [e.epc_id for e in world.epc_matches(dual, None, "active")] == ["epc-ca-dual-ppmid-v21"]
    assert world.epc_matches(dual, None, "mixed") == []
    elec = {"CHF": CHF, "ESME": ESME21}  # no GSME: matches only the electricity-only entry
    [e] = world.epc_matches(elec, "AA", "mixed")
    assert (e.epc_id, e.meters, e.smso, e.devices) == ("epc-aa-elec", "either", "SMSO One Ltd", elec)
    as_tuples = {"CHF": tuple(CHF), "ESME": dict(ESME22._asdict()), "GSME": GSME}
    assert [e.epc_id for e in world.epc_matches(as_tuples)] == ["epc-ba-dual"]
    with pytest.raises(ValueError, match="slots"):
        world.epc_matches({"CHF": CHF, "ESME": ESME21, "IHD": CHF})
    with pytest.raises(ValueError, match="dormant_or_active"):
        world.epc_matches(elec, None, "either")


def test_group_allows(world):
    assert world.group_allows("AA", ESME21)
    assert world.group_allows("AA", ESME21, "ESME")
    assert not world.group_allows("AA", ESME21, "GSME")
    assert not world.group_allows("AA", ESME22)
    assert world.group_allows("BA", ESME22) and world.group_allows("CA", ESME22)
    assert not any(world.group_allows(g, ESME9) for g in ("AA", "BA", "CA"))
    assert not world.group_allows("DA", CHF)


def test_in_smi(world):
    assert world.in_smi("00-0D-6F-00-00-09-00-01")
    assert world.in_smi("000d6f0000090007")  # normalised like a DUIS EUI
    assert not world.in_smi("00-0D-6F-00-00-01-00-01")
    assert not world.in_smi("not an eui")


# ---------------------------------------------------------------- queries: Registration Data


def test_registered_parties(world):
    assert world.import_supplier("1900000000011", T) == "supplier"
    assert world.electricity_distributor("1900000000011", T) == "network-operator"
    assert world.electricity_distributor("1900000000044", T) == "network-operator-b"
    assert world.gas_supplier("1000000011", T) == "supplier"
    assert world.gas_transporter("1000000011", T) == "gas-transporter"
    assert world.import_supplier("1000000011", T) is None  # an MPRN has no Import Supplier
    assert world.import_supplier("1900000000099", T) is None
    assert world.import_supplier("1900000000011", datetime(2023, 12, 31, 23, 59, 59, tzinfo=timezone.utc)) is None
    # [effective_from, effective_to): the new supplier holds it from the instant of change.
    assert world.import_supplier("1900000000022", T + 5 * DAY - SECOND) == "supplier"
    assert world.import_supplier("1900000000022", T + 5 * DAY) == "supplier-b"
    assert world.gas_supplier("1000000022", T + 5 * DAY) == "supplier-b"


@pytest.mark.parametrize("mpxn, at, expected", [
    ("1900000000011", T, False),
    ("1900000000022", T, True),                   # change in 5 days
    ("1900000000033", T, False),                  # change in 8 days
    ("1900000000033", T + DAY, True),             # ... which is 7 days from a later check time
    ("1900000000033", T + DAY - SECOND, False),   # 7 days + 1 s away
    ("1900000000055", T, True),                   # exactly 7 days: within (inclusive end)
    ("1900000000055", T + SECOND, True),          # 7 days - 1 s
    ("1900000000055", T - SECOND, False),         # 7 days + 1 s
    ("1900000000055", T + 7 * DAY, False),        # the change is now the current registration
    ("1900000000066", T, False),                  # re-registration with the same supplier
    ("1000000022", T, True),
    ("1000000033", T, False),
    ("1000000033", T + DAY, True),
    ("1000000044", T, False),
])
def test_supplier_change_within_7_days(world, mpxn, at, expected):
    assert world.supplier_change_within(mpxn, at) is expected


def test_change_within_other_windows_and_roles(world):
    assert world.supplier_change_within("1900000000033", T, days=8)
    assert not world.supplier_change_within("1900000000022", T, days=5 - 1 / 86400)
    assert not world.change_within("1900000000022", "electricity_distributor", T, 30)
    with pytest.raises(ValueError):
        world.change_within("1900000000022", "export_supplier", T, 7)


def test_times_must_be_timezone_aware(world):
    with pytest.raises(TypeError, match="timezone-aware"):
        world.import_supplier("1900000000011", datetime(2026, 3, 2, 12))
    with pytest.raises(TypeError, match="timezone-aware"):
        world.supplier_change_within("1900000000011", datetime(2026, 3, 2, 12))
    # Any offset is fine: 13:00+01:00 is T.
    assert world.supplier_change_within("1900000000055", T.astimezone(timezone(timedelta(hours=1))))


# ---------------------------------------------------------------- queries: parties, WAN, certificates


def test_parties(world):
    p = world.party_of(SUPPLIER_A)
    assert (p.party_id, p.party_type, p.party_signifier) == ("supplier", "supplier", "SUPA")
    assert world.party_of("027d000000000411").party_id == "supplier"
    assert world.party_of("02-7D-00-00-00-00-09-09") is None
    assert world.party_of(None) is None and world.party_of("") is None
    assert world.supplier_signifier(SUPPLIER_B) == "SUPB"
    assert world.supplier_signifier("02-7D-00-00-00-00-05-01") is None  # not a Supplier Party
    assert world.party("gas-transporter").party_type == "network_operator"


def test_same_party_and_affiliates(world):
    assert world.same_party(SUPPLIER_A, SUPPLIER_A_GAS)  # two User IDs of one Party
    assert not world.same_party(SUPPLIER_A, SUPPLIER_B)
    assert world.same_party(SUPPLIER_A, SUPPLIER_B, affiliates=True)  # the data says they are Affiliates
    assert not world.same_party(SUPPLIER_A, SUPPLIER_C, affiliates=True)
    assert not world.same_party(SUPPLIER_A, None)
    assert not world.same_party("02-7D-00-00-00-00-09-09", "02-7D-00-00-00-00-09-09")  # unknown: no Party


def test_wan_contacts(world):
    assert world.last_wan_contact("00-0D-6F-00-00-01-00-01") == datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
    assert (world.last_wan_contact("00-0D-6F-00-00-01-00-01", T - 2 * DAY)
            == datetime(2026, 2, 20, 9, tzinfo=timezone.utc))
    assert world.last_wan_contact("00-0D-6F-00-00-01-00-01", datetime(2026, 1, 1, tzinfo=timezone.utc)) is None
    assert world.last_wan_contact("00-0D-6F-00-00-07-00-01") is None
    assert world.wan_contact_within("00-0D-6F-00-00-01-00-01", T)
    assert not world.wan_contact_within("00-0D-6F-00-00-02-00-01", T)
    assert world.wan_contact_within("00-0D-6F-00-00-03-00-01", T)        # exactly 7 days ago
    assert not world.wan_contact_within("00-0D-6F-00-00-04-00-01", T)    # 7 days and 1 s ago
    assert world.wan_contact_within("00-0D-6F-00-00-04-00-01", T - SECOND)
    # A contact after the check time is not seen by a check at that time.
    assert not world.wan_contact_within("00-0D-6F-00-00-01-00-01", datetime(2026, 2, 1, tzinfo=timezone.utc))


def test_certificates_through_the_registry(world):
    reg = world.registry
    ds, ka = world.certificate_id("supplier-ds"), world.certificate_id("supplier-ka")
    assert reg.confirm_validity(ds, T).valid
    assert reg.critical_supplier_id(ds) == SUPPLIER_A and reg.critical_supplier_id(ka) is None
    assert reg.non_critical_supplier_id(ka) == SUPPLIER_A
    assert world.same_party(reg.critical_supplier_id(ds), reg.non_critical_supplier_id(ka))
    gas = world.certificate_id("supplier-gas-ds")
    assert world.same_party(reg.critical_supplier_id(gas), reg.critical_supplier_id(ds))
    no = world.certificate_id("network-operator-ds")
    assert reg.critical_network_operator_id(no) == "02-7D-00-00-00-00-05-01"
    assert reg.confirm_validity(world.certificate_id("supplier-ds-expired"), T).reason == R.EXPIRED
    assert reg.confirm_validity(world.certificate_id("supplier-ka-revoked"), T).reason == R.REVOKED
    assert world.certificate_id("no-such-name") is None
    assert len(world.certificate_names()) == len(bench.EXAMPLE_CERTIFICATES)


def test_world_opens_only_world_databases(tmp_path):
    db = tmp_path / "other.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InputError, match="not a tmadkit world database"):
        World(db)
    with pytest.raises(InputError, match="no such world database"):
        World(tmp_path / "missing.sqlite")


# ---------------------------------------------------------------- consistency checks


def plant_unknown_party(d):
    append_yaml(d / "mpan_registrations.yaml", {"mpan": "1900000000077", "role": "import_supplier",
                                                "party": "supplier-z", "effective_from": "2024-01-01T00:00:00Z"})
    return "unknown-party", "mpan_registrations.yaml", 17, "party"


def plant_wrong_party_type(d):
    append_yaml(d / "mprn_registrations.yaml", {"mprn": "1000000077", "role": "gas_supplier",
                                                "party": "gas-transporter", "effective_from": "2024-01-01T00:00:00Z"})
    return "wrong-party-type", "mprn_registrations.yaml", 11, "party"


def plant_overlap(d):
    append_yaml(d / "mpan_registrations.yaml", {"mpan": "1900000000022", "role": "import_supplier",
                                                "party": "supplier-c", "effective_from": "2025-01-01T00:00:00Z",
                                                "effective_to": "2025-02-01T00:00:00Z"})
    return "overlapping-registration", "mpan_registrations.yaml", 17, "effective_from"


def edit_combination(d, index, edit):
    """Edit an EPC entry and its Group combination alike, so only the planted fault shows."""
    for name in ("eligible_product_combinations.yaml", "group_combinations.yaml"):
        records = read_yaml(d / name)
        edit(records[index]["devices"])
        write_yaml(d / name, records)


def plant_epc_model_not_on_cpl(d):
    edit_combination(d, 2, lambda devices: devices["GSME"].update(firmware_version="3.9"))
    return "epc-model-not-on-cpl", "eligible_product_combinations.yaml", 3, "devices.GSME"


def plant_epc_wrong_device_type(d):
    edit_combination(d, 1, lambda devices: devices.update(CHF=dict(GSME._asdict())))  # on the CPL as a GSME
    return "epc-model-not-on-cpl", "eligible_product_combinations.yaml", 2, "devices.CHF"


def plant_group_not_in_epc(d):
    append_yaml(d / "group_combinations.yaml", {"group_id": "BA", "devices": {"CHF": CHF._asdict(),
                                                                              "ESME": ESME21._asdict()}})
    return "group-combination-not-in-epc", "group_combinations.yaml", 6, "devices"


def plant_certificate_unknown_party(d):
    ids = [r for r in read_yaml(d / "entity_ids.yaml") if r["entity_id"] != "02-7D-00-00-00-00-05-02"]
    write_yaml(d / "entity_ids.yaml", ids)
    names = [r["name"] for r in read_yaml(d / "certificates.yaml")]
    return "certificate-unknown-party", "certificates.yaml", names.index("gas-transporter-ds") + 1, "pem"


def plant_entity_unknown_party(d):
    append_yaml(d / "entity_ids.yaml", {"entity_id": "02-7D-00-00-00-00-09-01", "party": "nobody"})
    return "unknown-party", "entity_ids.yaml", 12, "party"


def plant_duplicate_entity_id(d):
    append_yaml(d / "entity_ids.yaml", {"entity_id": SUPPLIER_A.lower(), "party": "supplier-b"})
    return "duplicate-entity-id", "entity_ids.yaml", 12, "entity_id"


def plant_duplicate_party(d):
    append_yaml(d / "parties.yaml", {"party_id": "supplier", "name": "Again", "party_type": "supplier"})
    return "duplicate-party", "parties.yaml", 9, "party_id"


def plant_duplicate_signifier(d):
    append_yaml(d / "parties.yaml", {"party_id": "supplier-d", "name": "D", "party_type": "supplier",
                                     "party_signifier": "SUPA"})
    return "duplicate-party-signifier", "parties.yaml", 9, "party_signifier"


def plant_duplicate_device(d):
    with open(d / "smart_metering_inventory.csv", "a", encoding="utf-8") as fh:
        fh.write("00-0d-6f-00-00-09-00-03,ESME\n")
    return "duplicate-device-id", "smart_metering_inventory.csv", 8, "device_id"


def plant_duplicate_epc_entry(d):
    append_yaml(d / "eligible_product_combinations.yaml",
                dict(read_yaml(d / "eligible_product_combinations.yaml")[0], epc_id="another-id"))
    return "duplicate-epc-entry", "eligible_product_combinations.yaml", 6, "devices"


def plant_duplicate_cpl(d):
    append_yaml(d / "central_products.yaml", read_yaml(d / "central_products.yaml")[0])
    return "duplicate-cpl-entry", "central_products.yaml", 10, "model"


PLANTS = [plant_unknown_party, plant_wrong_party_type, plant_overlap, plant_epc_model_not_on_cpl,
          plant_epc_wrong_device_type, plant_group_not_in_epc, plant_certificate_unknown_party,
          plant_entity_unknown_party, plant_duplicate_entity_id, plant_duplicate_party,
          plant_duplicate_signifier, plant_duplicate_device, plant_duplicate_epc_entry, plant_duplicate_cpl]


@pytest.mark.parametrize("plant", PLANTS, ids=[p.__name__[6:] for p in PLANTS])
def test_check_detects_planted_inconsistency(tmp_path, plant):
    d = copy_example(tmp_path)
    code, file, record, field = plant(d)
    found = check_dir(d)
    assert (code, file, record, field) in {(f.code, f.file, f.record, f.field) for f in found}, found
    assert all(f.code == code for f in found), found  # and nothing else is disturbed


def test_overlap_with_an_open_ended_period_is_found_even_when_not_adjacent(tmp_path):
    d = copy_example(tmp_path)
    append_yaml(d / "mpan_registrations.yaml",
                {"mpan": "1900000000011", "role": "import_supplier", "party": "supplier-b",
                 "effective_from": "2024-06-01T00:00:00Z", "effective_to": "2024-07-01T00:00:00Z"},
                {"mpan": "1900000000011", "role": "import_supplier", "party": "supplier-c",
                 "effective_from": "2024-08-01T00:00:00Z", "effective_to": "2024-09-01T00:00:00Z"})
    found = [(f.record, f.code) for f in check_dir(d)]
    assert found == [(17, "overlapping-registration"), (18, "overlapping-registration")]
    assert "overlaps record 1 (open-ended)" in str(check_dir(d)[1])


def test_cli_check_reports_and_exits_1(tmp_path, capsys):
    d = copy_example(tmp_path)
    plant_unknown_party(d)
    assert main(["world", "check", str(d), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    [f] = out["inconsistencies"]
    assert (f["file"], f["record"], f["field"], f["code"]) == ("mpan_registrations.yaml", 17, "party", "unknown-party")
    assert main(["world", "check", str(d)]) == 1
    out = capsys.readouterr().out
    assert "mpan_registrations.yaml record 17, field party: party 'supplier-z' is not in parties" in out


# ---------------------------------------------------------------- the same world in CSV, YAML and JSON


def flatten(rec: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in rec.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def example_records() -> dict[str, list[dict]]:
    out = {}
    for p in EXAMPLE.iterdir():
        if p.suffix == ".yaml" and p.stem != "world":
            out[p.stem] = read_yaml(p)
        elif p.suffix == ".csv":
            out[p.stem] = list(csv.DictReader(p.open(encoding="utf-8")))
    return out


def write_as(d: Path, fmt: str) -> Path:
    d.mkdir()
    shutil.copy(EXAMPLE / "world.yaml", d / "world.yaml")
    for table, records in example_records().items():
        if fmt == "json":
            (d / f"{table}.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
        elif fmt == "yaml":
            write_yaml(d / f"{table}.yaml", records)
        else:
            rows = [flatten(r) for r in records]
            cols = list(dict.fromkeys(c for r in rows for c in r))
            buf = io.StringIO()
            w = csv.DictWriter(buf, cols, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            (d / f"{table}.csv").write_text(buf.getvalue(), encoding="utf-8")
    return d


def dump(db: Path) -> dict[str, list]:
    conn = sqlite3.connect(db)
    tables = [t for (t,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT IN ('world_source', 'world_meta')")]
    out = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    conn.close()
    return out


def test_csv_yaml_and_json_give_the_same_store(tmp_path):
    dumps = {}
    for fmt in ("csv", "yaml", "json"):
        d = write_as(tmp_path / fmt, fmt)
        load_database(d, tmp_path / f"{fmt}.sqlite")
        dumps[fmt] = dump(tmp_path / f"{fmt}.sqlite")
        assert sum(len(v) for v in dumps[fmt].values()) > 100
    assert dumps["csv"] == dumps["yaml"] == dumps["json"]
    assert dumps["csv"]["epc"] and dumps["csv"]["certificate"]  # nested fields and PEM cells survived CSV
    reference = tmp_path / "example.sqlite"
    load_database(EXAMPLE, reference)
    assert dump(reference) == dumps["yaml"]


# ---------------------------------------------------------------- a generated mid-sized world


@pytest.mark.parametrize("parallel", [False, True])
def test_generated_20000_mpxn_world_loads(tmp_path, parallel):
    counts = bench.generate(tmp_path / "gen", mpxns=20_000, certificates=300)
    report = load_database(tmp_path / "gen", tmp_path / "gen.sqlite", parallel=parallel)
    records = {t.table: t.records for t in report.tables}
    assert records["certificates"] == 300
    assert records["smart_metering_inventory"] == counts["smart_metering_inventory"]
    with World(tmp_path / "gen.sqlite") as w:
        mpxns = w._one("SELECT count(DISTINCT mpxn) FROM registration")[0]
        assert mpxns == 20_000
        assert w.import_supplier("1000000000000", bench.T0) is not None
        assert w.gas_transporter("0000000001", bench.T0) is not None
        assert w.registry.confirm_validity(w.certificate_id("cert-0"), bench.T0).valid
        assert check_world(w) == []


@pytest.mark.parametrize("text", ["00-db-12-00-00-00-00-a0", "00-DB-12-00-00-00-00-A0", "00db1200000000a0",
                                  " 00-db-12-00-00-00-00-a0 ", "00-DB-12", "not an EUI"])
def test_the_duis_form_shortcut_normalises_device_ids_as_the_certificate_parser_does(text):
    """store._eui upper-cases the DUIS form every MCF DeviceID has without parsing it: the same
    result as normalise_eui, which it falls back to for every other form."""
    from tmadkit.smki.certificates import normalise_eui
    from tmadkit.world import store

    try:
        expected = normalise_eui(text)
    except ValueError:
        expected = None          # not an EUI-64: it identifies nothing in the world
    assert store._eui(text) == expected
