"""Generate a large world, load it, print how fast:  python -m tmadkit.world.bench

    python -m tmadkit.world.bench [--mpxns 1000000] [--certificates 100000] [--keep DIR]

The world is written to a temporary directory (CSV for the big tables, YAML and JSON for
the small ones, so every reader is exercised), then loaded by `tmadkit world load` in a
child process so that its peak RSS is the loader's own.  Prints records/s per table,
total seconds and peak RSS.  This is a measurement, not a test: nothing here fails on
a slow machine.

generate() is also what tests use for a mid-sized world, and
`--example-certificates DIR` regenerates the certificates of spec/world/example.
"""
from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..smki import pki, roles
from ..smki.certificates import DIGITAL_SIGNATURE as DS, KEY_AGREEMENT as KA

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)  # the generated world's reference time
DAY = timedelta(days=1)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _eui(prefix: int, n: int) -> str:
    return "-".join(f"{b:02X}" for b in ((prefix << 32) | n).to_bytes(8, "big"))


def _csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _ca(subject_dn, key, issuer_dn, issuer_key, nb, na):
    return pki._ca_cert(pki._ca_name(subject_dn), key, pki._ca_name(issuer_dn), issuer_key, nb, na)


def _org(ca_dn, ca_key, subject_key, role: str, usage: str, eui: str, nb, na, cn: str | None = None):
    ou = roles.role_table().hex(role)
    return pki._org_cert(pki._name(ou, cn, bytes.fromhex(eui.replace("-", ""))), subject_key,
                         pki._ca_name(ca_dn), ca_key, usage, nb, na)


def _der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------- a large world


def generate(out: str | os.PathLike, *, mpxns: int = 1_000_000, certificates: int = 100_000,
             seed: int = 0) -> dict[str, int]:
    """Write a consistent world with `mpxns` MPxNs (60% MPANs) and `certificates`
    Organisation Certificates into `out`; returns records per table."""
    rnd = random.Random(seed)
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}

    suppliers = [f"supplier-{i:03d}" for i in range(40)]
    dnos = [f"dno-{i:02d}" for i in range(14)]
    gts = [f"gt-{i:02d}" for i in range(6)]
    parties = ([{"party_id": p, "name": p.upper(), "party_type": "supplier", "party_signifier": f"S{i:03d}"}
                for i, p in enumerate(suppliers)]
               + [{"party_id": p, "name": p.upper(), "party_type": "network_operator",
                   "party_signifier": f"N{i:03d}"} for i, p in enumerate(dnos + gts)])
    (d / "parties.json").write_text(json.dumps(parties, indent=1), encoding="utf-8")
    entity = {p["party_id"]: _eui(0x027D1000, i) for i, p in enumerate(parties)}
    _csv(d / "entity_ids.csv", ["entity_id", "party"], [(e, p) for p, e in entity.items()])
    counts.update(parties=len(parties), entity_ids=len(entity))

    types = ("CHF", "ESME", "GSME", "PPMID", "IHD", "CAD", "GPF")
    cpl = [{"manufacturer": f"MFR-{t}", "model": f"{t}-M{m}", "firmware_version": f"{f}.0",
            "device_type": t, "smets_chts_version": "SMETS1"}
           for t in types for m in range(10) for f in range(1, 4)]
    (d / "central_products.yaml").write_text(yaml.safe_dump(cpl, sort_keys=False), encoding="utf-8")

    def model(t):
        return {"manufacturer": f"MFR-{t}", "model": f"{t}-M{rnd.randrange(10)}",
                "firmware_version": f"{rnd.randrange(1, 4)}.0"}

    epc, groups = [], []
    for i in range(200):
        devices = {"CHF": model("CHF"), "ESME": model("ESME")}
        if i % 2:
            devices["GSME"] = model("GSME")
        if i % 3 == 0:
            devices["PPMID"] = model("PPMID")
        g = ("AA", "BA", "CA", "DA")[i % 4]
        epc.append({"epc_id": f"epc-{i:03d}", "group_id": g, "smso": f"SMSO {i % 3}",
                    "meters": ("dormant", "active", "either")[i % 3], "devices": devices})
        groups.append({"group_id": g, "devices": devices})
    (d / "eligible_product_combinations.yaml").write_text(yaml.safe_dump(epc, sort_keys=False), encoding="utf-8")
    (d / "group_combinations.json").write_text(json.dumps(groups), encoding="utf-8")
    counts.update(central_products=len(cpl), eligible_product_combinations=len(epc),
                  group_combinations=len(groups))

    n_dev = max(1, mpxns // 5)
    _csv(d / "smart_metering_inventory.csv", ["device_id", "device_type"],
         ((_eui(0x000D6F00, i), types[i % len(types)]) for i in range(n_dev)))
    _csv(d / "wan_contacts.csv", ["chf", "contacted_at"],
         ((_eui(0x000D6F01, i), _iso(T0 - timedelta(seconds=rnd.randrange(30 * 86400)))) for i in range(n_dev)))
    counts.update(smart_metering_inventory=n_dev, wan_contacts=n_dev)

    n_mpan = mpxns * 3 // 5
    starts = [_iso(T0 - timedelta(days=k)) for k in range(1, 3000)]
    changes = [_iso(T0 + timedelta(days=k)) for k in range(1, 30)]

    def registrations(ids, supplier_role, network_role, networks):
        for mpxn in ids:
            start = rnd.choice(starts)
            sup = rnd.choice(suppliers)
            if rnd.random() < 0.02:  # a supplier change in the next 30 days
                when = rnd.choice(changes)
                yield mpxn, supplier_role, sup, start, when
                yield mpxn, supplier_role, rnd.choice(suppliers), when, ""
            else:
                yield mpxn, supplier_role, sup, start, ""
            yield mpxn, network_role, rnd.choice(networks), starts[-1], ""

    header = ["{key}", "role", "party", "effective_from", "effective_to"]
    _csv(d / "mpan_registrations.csv", [h.format(key="mpan") for h in header],
         registrations((f"{1_000_000_000_000 + i:013d}" for i in range(n_mpan)),
                       "import_supplier", "electricity_distributor", dnos))
    _csv(d / "mprn_registrations.csv", [h.format(key="mprn") for h in header],
         registrations((f"{i + 1:010d}" for i in range(mpxns - n_mpan)), "gas_supplier", "gas_transporter", gts))
    counts.update(mpxns=mpxns)

    # Certificates: one subject key for all (the registry never looks at it) keeps
    # generation to one signature per certificate.
    if certificates:
        curve = ec.SECP256R1()
        root_key, ca_key, subject_key = (ec.generate_private_key(curve) for _ in range(3))
        nb, na = T0 - 365 * DAY, T0 + 5 * 365 * DAY
        root_dn, ca_dn = [("00", "TKB0")], [("07", "TKB1")]
        ca = _ca(ca_dn, ca_key, root_dn, root_key, nb - DAY, na + DAY)
        _csv(d / "trusted_cas.csv", ["name", "der_base64"], [("bench-issuing-ca", base64.b64encode(_der(ca)).decode())])
        owners = [(p, roles.SUPPLIER) for p in suppliers] + [(p, roles.NETWORK_OPERATOR) for p in dnos + gts]

        def certs():
            for i in range(certificates):
                party, role = owners[i % len(owners)]
                usage = DS if i % 2 == 0 else KA
                cert = _org(ca_dn, ca_key, subject_key, role, usage, entity[party], nb, na)
                revoked = _iso(T0 - 10 * DAY) if i % 100 == 99 else ""
                yield f"cert-{i}", base64.b64encode(_der(cert)).decode(), revoked

        _csv(d / "certificates.csv", ["name", "der_base64", "revoked_at"], certs())
    counts.update(certificates=certificates)
    return counts


# ---------------------------------------------------------------- spec/world/example certificates

EXAMPLE_NB, EXAMPLE_NA = datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2099, 12, 31, tzinfo=timezone.utc)
# (name, party, role, keyUsage, Entity Identifier, negative) - names follow smki/pki.py's SPECS.
EXAMPLE_CERTIFICATES = (
    ("supplier-ds", "supplier", roles.SUPPLIER, DS, "02-7D-00-00-00-00-04-01", None),
    ("supplier-ka", "supplier", roles.SUPPLIER, KA, "02-7D-00-00-00-00-04-01", None),
    ("supplier-gas-ds", "supplier", roles.SUPPLIER, DS, "02-7D-00-00-00-00-04-11", None),
    ("supplier-gas-ka", "supplier", roles.SUPPLIER, KA, "02-7D-00-00-00-00-04-11", None),
    ("supplier-b-ds", "supplier-b", roles.SUPPLIER, DS, "02-7D-00-00-00-00-04-02", None),
    ("supplier-b-ka", "supplier-b", roles.SUPPLIER, KA, "02-7D-00-00-00-00-04-02", None),
    ("supplier-c-ds", "supplier-c", roles.SUPPLIER, DS, "02-7D-00-00-00-00-04-03", None),
    ("supplier-c-ka", "supplier-c", roles.SUPPLIER, KA, "02-7D-00-00-00-00-04-03", None),
    ("network-operator-ds", "network-operator", roles.NETWORK_OPERATOR, DS, "02-7D-00-00-00-00-05-01", None),
    ("network-operator-ka", "network-operator", roles.NETWORK_OPERATOR, KA, "02-7D-00-00-00-00-05-01", None),
    ("network-operator-b-ds", "network-operator-b", roles.NETWORK_OPERATOR, DS, "02-7D-00-00-00-00-05-03", None),
    ("network-operator-b-ka", "network-operator-b", roles.NETWORK_OPERATOR, KA, "02-7D-00-00-00-00-05-03", None),
    ("gas-transporter-ds", "gas-transporter", roles.NETWORK_OPERATOR, DS, "02-7D-00-00-00-00-05-02", None),
    ("gas-transporter-ka", "gas-transporter", roles.NETWORK_OPERATOR, KA, "02-7D-00-00-00-00-05-02", None),
    ("supplier-ds-expired", "supplier", roles.SUPPLIER, DS, "02-7D-00-00-00-00-04-01", "expired"),
    ("supplier-ka-revoked", "supplier", roles.SUPPLIER, KA, "02-7D-00-00-00-00-04-01", "revoked"),
    ("network-operator-ka-revoked", "network-operator", roles.NETWORK_OPERATOR, KA, "02-7D-00-00-00-00-05-01",
     "revoked"),
)
EXAMPLE_REVOKED_AT = "2025-06-01T00:00:00Z"


def write_example_certificates(out: str | os.PathLike) -> None:
    """certificates.yaml and trusted_cas.yaml for spec/world/example (keys are discarded:
    Table 5.10 reads certificates, it never signs with them)."""
    d = Path(out)
    curve = ec.SECP256R1()
    root_key, ca_key = ec.generate_private_key(curve), ec.generate_private_key(curve)
    root_dn, ca_dn = [("00", "TKW0")], [("07", "TKW1")]
    ca = _ca(ca_dn, ca_key, root_dn, root_key, EXAMPLE_NB, EXAMPLE_NA)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    records = []
    for name, party, role, usage, eui, negative in EXAMPLE_CERTIFICATES:
        nb, na = EXAMPLE_NB, EXAMPLE_NA
        if negative == "expired":
            na = datetime(2021, 1, 1, tzinfo=timezone.utc)
        cert = _org(ca_dn, ca_key, ec.generate_private_key(curve), role, usage, eui, nb, na,
                    cn=f"TMADKIT {party.upper()}")
        rec = {"name": name, "pem": pem(cert)}
        if negative == "revoked":
            rec["revoked_at"] = EXAMPLE_REVOKED_AT
        records.append(rec)

    class _Literal(str):
        pass

    dumper = type("D", (yaml.SafeDumper,), {})
    dumper.add_representer(_Literal, lambda dd, s: dd.represent_scalar("tag:yaml.org,2002:str", s, style="|"))
    head = ("# Generated by `python -m tmadkit.world.bench --example-certificates spec/world/example`.\n"
            "# Test certificates only; their private keys were discarded.\n")
    for fname, recs in (("certificates.yaml", records),
                        ("trusted_cas.yaml", [{"name": "example-issuing-ca", "pem": pem(ca)}])):
        body = yaml.dump([{k: _Literal(v) if k == "pem" else v for k, v in r.items()} for r in recs],
                         Dumper=dumper, sort_keys=False, width=120)
        (d / fname).write_text(head + body, encoding="utf-8")


# ---------------------------------------------------------------- the benchmark


def _children() -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of the waited-for child processes (Linux: ru_maxrss in KiB)."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_maxrss / 1024, u.ru_utime + u.ru_stime


def _load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tmadkit.world.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--mpxns", type=int, default=1_000_000)
    ap.add_argument("--certificates", type=int, default=100_000)
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it (default: a temp dir)")
    ap.add_argument("--example-certificates", metavar="DIR",
                    help="only (re)write DIR/certificates.yaml and DIR/trusted_cas.yaml of the example world")
    args = ap.parse_args(argv)
    if args.example_certificates:
        write_example_certificates(args.example_certificates)
        return 0
    with tempfile.TemporaryDirectory(prefix="tmadkit-world-bench-") as tmp:
        world_dir = Path(args.keep) if args.keep else Path(tmp) / "world"
        t = time.perf_counter()
        counts = generate(world_dir, mpxns=args.mpxns, certificates=args.certificates)
        gen_s = time.perf_counter() - t
        size = sum(p.stat().st_size for p in world_dir.iterdir())
        print(f"generated {counts['mpxns']:,} MPxNs, {counts['certificates']:,} certificates in {gen_s:.1f} s "
              f"({size / 1e6:.0f} MB of files in {world_dir})")
        db = Path(tmp) / "world.sqlite"
        load_before = _load_average()
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "tmadkit.cli", "world", "load", str(world_dir),
                               "--db", str(db), "--json"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        report = json.loads(proc.stdout)
        print(f"{'table':<32} {'records':>10} {'seconds':>8} {'records/s':>11}")
        for name, row in report["tables"].items():
            rate = f"{row['records_per_second']:,}" if row["records_per_second"] else "-"
            print(f"{name:<32} {row['records']:>10,} {row['seconds']:>8.2f} {rate:>11}")
        print(f"{'indexes + ANALYZE':<32} {'':>10} {report['index_seconds']:>8.2f}")
        rss, cpu = _children()
        print(f"load total {report['total_seconds']:.1f} s (process wall clock {wall:.1f} s, "
              f"interpreter start included; CPU {cpu:.1f} s over {os.cpu_count()} CPUs); "
              f"peak RSS {rss:.0f} MB; database {db.stat().st_size / 1e6:.0f} MB")
        print(f"load average before/after: {load_before} / {_load_average()} "
              "(other work on the machine slows every figure)")
        _queries(db)
    return 0


def _queries(db: Path) -> None:
    """A rough per-lookup cost for the questions Table 5.10 asks most."""
    from .store import World
    rnd = random.Random(1)
    with World(db) as w:
        mpans = [f"{1_000_000_000_000 + rnd.randrange(1000):013d}" for _ in range(20_000)]
        t = time.perf_counter()
        for m in mpans:
            w.import_supplier(m, T0)
            w.supplier_change_within(m, T0)
        per = (time.perf_counter() - t) / len(mpans) * 1e6
        print(f"query: import_supplier + supplier_change_within {per:.0f} us per MPAN")


if __name__ == "__main__":
    sys.exit(main())
