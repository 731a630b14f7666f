"""How fast the DCC's processing of an MCF is, against libxml2 and xmlsec1 on the same file:

    python -m tmadkit.bench.common_validation [--sizes 10000,100000] [--keep DIR] [--repeat 3]

For each size: a test PKI, a signed MCF of that many fully populated installations (CHF, GPF,
ESME, GSME, PPMID, IHD, CAD, all four Certificate IDs on the GPF and ESME) and a world that
matches it (every MPAN and MPRN registered, the CPL, EPC and Group lists of spec/world/example,
1 installation in 100 with an unregistered MPAN so that some FailedChecks are written).  Then,
each in a fresh child process so that its peak RSS is its own:

  baseline   lxml parse (the hardened parser's options) + lxml.etree.XMLSchema validation
  xmlsec1    `xmlsec1 --verify` of the same file
  tmadkit    `tmadkit validate MCF --as DCC --world DB --pki DIR --emit-mvf OUT`: Table 5.9
             authentication, Table 5.10 for every installation, the signed MVF

and prints installations/s, peak RSS, and the ratios total / baseline time, total / xmlsec1 time
and tmadkit peak RSS / baseline peak RSS (targets: <= 4 and <= 1.5).  Each is run --repeat
times, interleaved, and the median run is reported with every run's time beside it.  tmadkit's
peak RSS is its own plus that of its Table 5.10 worker process, if it started one (an upper
bound: the two peaks need not coincide).  A measurement, not a test:
nothing fails on a slow machine.  Generating 100,000 installations (about 400 MB) takes a few
minutes, mostly signing (C14N and digest of the whole file).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..smki import pki as pki_mod
from ..xml.schema import DS_NAMESPACE, NAMESPACE

AT = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)
CHF = ("Acme Hubs", "AH-CHF-1", "1.0")
GPF = ("Acme Hubs", "AH-GPF-1", "1.0")
ESME = ("Volt Meters", "VM-E1", "2.1")
GSME = ("Gasworks", "GW-G1", "3.0")
PPMID = ("Paypoint Devices", "PD-P1", "1.4")
IHD = ("Display Co", "DC-IHD", "5.0")
CAD = ("Display Co", "DC-CAD", "1.0")
UNREGISTERED_EVERY = 100


def _cert(local: str, cid) -> str:
    return (f"<{local}><X509IssuerSerial><ds:X509IssuerName>{cid.issuer_string}</ds:X509IssuerName>"
            f"<ds:X509SerialNumber>{cid.serial}</ds:X509SerialNumber></X509IssuerSerial></{local}>")


def _detail(model, device_type: str) -> str:
    m, mo, fw = model
    return (f"<DeviceDetail><FirmwareVersion>{fw}</FirmwareVersion><DeviceModel>{mo}</DeviceModel>"
            f"<DeviceManufacturer>{m}</DeviceManufacturer><DeviceType>{device_type}</DeviceType></DeviceDetail>")


def _device_id(n: int, role: int) -> str:
    b = (0x00, 0xDB, 0x12, *n.to_bytes(4, "big"), role)
    return "-".join(f"{x:02X}" for x in b)


def mpan(n: int) -> str:
    return f"{1_500_000_000_000 + n:013d}"


def mprn(n: int) -> str:
    return f"{3_000_000_000 + n}"


def write_mcf(path: Path, n: int, pki) -> None:
    """A signed MCF of n fully populated installations, written without building them one
    element at a time in Python: text per installation, then one parse to sign."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from ..xml import safe, signature

    certs = {k: pki.entry(k).cert_id for k in ("network-operator-ds", "network-operator-ka", "supplier-ds",
                                                "supplier-ka")}
    four = (_cert("CriticalNetworkOperatorCertificateID", certs["network-operator-ds"])
            + _cert("NonCriticalNetworkOperatorCertificateID", certs["network-operator-ka"])
            + _cert("CriticalSupplierCertificateID", certs["supplier-ds"])
            + _cert("NonCriticalSupplierCertificateID", certs["supplier-ka"]))
    two = four[four.index("<CriticalSupplierCertificateID>"):]
    signer = next(e for e in pki.entries if e.role == "requestingPartyFileSigning" and e.negative is None)
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<MigrationCommon xmlns="{NAMESPACE}" xmlns:ds="{DS_NAMESPACE}">'
             f"<RequestingPartyID>{signer.entity_id}</RequestingPartyID><MCFCounter>1</MCFCounter>"
             "<GroupID>AA</GroupID><ToBeCommissionedByDCC>true</ToBeCommissionedByDCC>"]
    for i in range(n):
        parts.append(
            "<SMETS1Installation>"
            f"<CHFDetail><DeviceID>{_device_id(i, 0xA0)}</DeviceID>{_detail(CHF, 'CHF')}</CHFDetail>"
            f"<GPFDetail><DeviceID>{_device_id(i, 0xA1)}</DeviceID>{_detail(GPF, 'GPF')}{four}</GPFDetail>"
            f"<ESMEDetail><DeviceID>{_device_id(i, 0xA2)}</DeviceID>{_detail(ESME, 'ESME')}"
            f"<ImportMPAN>{mpan(i)}</ImportMPAN><ESMEVariant>A</ESMEVariant>{four}</ESMEDetail>"
            f"<GSMEDetail><DeviceID>{_device_id(i, 0xA3)}</DeviceID>{_detail(GSME, 'GSME')}"
            f"<MPRN>{mprn(i)}</MPRN>{two}</GSMEDetail>"
            f"<PPMIDDetail><DeviceID>{_device_id(i, 0xB0)}</DeviceID>{_detail(PPMID, 'PPMID')}</PPMIDDetail>"
            f"<IHDDetail><DeviceID>{_device_id(i, 0xC0)}</DeviceID>{_detail(IHD, 'IHD')}</IHDDetail>"
            f"<CADDetail><DeviceID>{_device_id(i, 0xD0)}</DeviceID>{_detail(CAD, 'CAD')}</CADDetail>"
            "</SMETS1Installation>\n")
    parts.append("</MigrationCommon>")
    tree = safe.parse_bytes("".join(parts).encode("utf-8"))
    del parts
    key = serialization.load_pem_private_key(signer.private_key.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(signer.certificate.read_bytes())
    path.write_bytes(signature.sign(tree, key, cert))


def write_world(folder: Path, n: int) -> None:
    """spec/world/example's parties and product lists, every generated MPxN registered."""
    from ..world import example_dir

    folder.mkdir(parents=True)
    for name in ("world.yaml", "parties.yaml", "entity_ids.yaml", "central_products.yaml",
                 "eligible_product_combinations.yaml", "group_combinations.yaml", "smart_metering_inventory.csv",
                 "trusted_cas.yaml"):
        shutil.copy(example_dir() / name, folder / name)
    since = "2024-01-01T00:00:00Z"
    with open(folder / "mpan_registrations.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["mpan", "role", "party", "effective_from"])
        for i in range(n):
            if i % UNREGISTERED_EVERY == UNREGISTERED_EVERY - 1:
                continue
            w.writerow([mpan(i), "import_supplier", "supplier", since])
            w.writerow([mpan(i), "electricity_distributor", "network-operator", since])
    with open(folder / "mprn_registrations.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["mprn", "role", "party", "effective_from"])
        for i in range(n):
            w.writerow([mprn(i), "gas_supplier", "supplier", since])
            w.writerow([mprn(i), "gas_transporter", "network-operator", since])


# ---------------------------------------------------------------- measurements (child processes)

_PEAK = """
import resource
def peak_rss_mb():
    # VmHWM: the peak of this process's own address space.  ru_maxrss is not used where VmHWM
    # exists: Linux carries it across exec, so a child would report the generating parent's peak.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def children_cpu():
    # user + system seconds of the child processes waited for so far
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
"""

_BASELINE = _PEAK + """
import json, sys, time
from lxml import etree
from tmadkit.xml import schema
xsd = schema.load_schema()
t0, c0 = time.perf_counter(), time.process_time()
parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True,
                         remove_comments=True, collect_ids=False)
tree = etree.parse(sys.argv[1], parser)
t1 = time.perf_counter()
ok = xsd.validate(tree)
t2 = time.perf_counter()
print(json.dumps({"parse": t1 - t0, "validate": t2 - t1, "total": t2 - t0, "valid": ok,
                  "cpu": time.process_time() - c0, "peak_rss_mb": peak_rss_mb()}))
"""

_TMADKIT = _PEAK + """
import contextlib, io, json, sys, time
from tmadkit.cli import main
args = json.loads(sys.argv[1])
out = io.StringIO()
t0, c0, w0 = time.perf_counter(), time.process_time(), children_cpu()
with contextlib.redirect_stdout(out):
    rc = main(args)
t1 = time.perf_counter()
cpu = time.process_time() - c0 + children_cpu() - w0   # every thread's, and the worker process's
from tmadkit.common_validation.speculative import WORKER_PEAKS_MB
doc = json.loads(out.getvalue())
print(json.dumps({"total": t1 - t0, "cpu": cpu, "rc": rc, "accepted": doc["accepted"],
                  "installations": len(doc.get("installations") or []),
                  "installations_failed": doc.get("installations_failed"),
                  "mvf": (doc.get("mvf") or {}).get("file"),
                  # a worker process's peak added to this one's: an upper bound of the two together
                  "peak_rss_mb": peak_rss_mb() + max(WORKER_PEAKS_MB, default=0),
                  "worker_peak_rss_mb": max(WORKER_PEAKS_MB, default=None)}))
"""


# What no work on Table 5.10 can remove: the C steps of Table 5.9 as validate runs them without
# it (tmadkit's hardened parse, then libxml2's XSD validation beside xmlsec's verification of the
# whole-document Reference where a second core is free: ReceivedFile.verify_ahead).  `validate`
# and `verify` are each one's own time; `beside` is the two together, which the floor counts.
_AUTHENTICATION_C = """
import json, sys, threading, time
from cryptography import x509
from tmadkit.commands.validate import usable_cores
from tmadkit.xml import safe, schema, signature
xsd = schema.load_schema()
cert = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
data = open(sys.argv[1], "rb").read()
t0 = time.perf_counter()
tree = safe.parse_bytes(data)
t1 = time.perf_counter()
took = {}
def verify():
    t = time.perf_counter()
    signature.verify(tree, cert)
    took["verify"] = time.perf_counter() - t
thread = threading.Thread(target=verify)
if usable_cores() > 1:
    thread.start()
    ok = xsd.validate(tree)
    t2 = time.perf_counter()
    thread.join()
else:
    ok = xsd.validate(tree)
    t2 = time.perf_counter()
    verify()
t3 = time.perf_counter()
print(json.dumps({"parse": t1 - t0, "validate": t2 - t1, "verify": took["verify"], "beside": t3 - t1,
                  "total": t3 - t0, "valid": ok}))
"""


def compile_bytecode() -> str | None:
    """Compile tmadkit and the generated checks to bytecode where the children's imports look
    for it, as pip does for an installed package; an editable install never is, and where
    PYTHONDONTWRITEBYTECODE is set each run would compile tmadkit's modules again (about 0.2 s).
    The children's environment is this process's own: a PYTHONPYCACHEPREFIX set here only for
    them would make them compile the standard library and every package afresh instead
    (measured: 0.94 s against 0.26 s to import what validate imports).  None if done, else why not."""
    from .. import paths

    out = subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1]),
                          str(paths.root() / "generated")], capture_output=True, text=True, check=False)
    return None if out.returncode == 0 else (out.stderr or out.stdout).strip()[-500:]


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _xmlsec1(path: Path, cert_pem: Path) -> dict | None:
    exe = shutil.which("xmlsec1")
    if exe is None:
        return None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # --enabled-key-data key-name: use the key given, ignore KeyInfo's X509Data (as the tests do)
    r = subprocess.run(["/usr/bin/time", "-f", "%M", exe, "--verify", "--enabled-key-data", "key-name",
                        "--enabled-reference-uris", "empty", "--pubkey-cert-pem", str(cert_pem), str(path)]
                       if shutil.which("time") or Path("/usr/bin/time").exists() else
                       [exe, "--verify", "--enabled-key-data", "key-name", "--enabled-reference-uris", "empty",
                        "--pubkey-cert-pem", str(cert_pem), str(path)],
                       capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak = None
    lines = r.stderr.strip().splitlines()
    if lines and lines[-1].strip().isdigit():
        peak = int(lines[-1]) / 1024
    return {"total": elapsed, "cpu": cpu, "ok": r.returncode == 0, "peak_rss_mb": peak}


def generate(n: int, work: Path) -> None:
    """The PKI, the signed MCF and the loaded world for n installations, in `work`."""
    from ..smki.registry import Registry
    from ..world import load_database

    work.mkdir(parents=True, exist_ok=True)
    pki = pki_mod.init(work / "pki", now=AT - timedelta(days=1), force=True)
    write_mcf(work / f"MCF_{n}.xml", n, pki)
    world_dir, db = work / "world", work / "world.sqlite"
    shutil.rmtree(world_dir, ignore_errors=True)
    write_world(world_dir, n)
    load_database(world_dir, db)
    registry = Registry(db)                # the PKI's certificates are the world's too
    pki.load_into(registry)
    registry.close()
    (work / "complete").write_text("generated\n")


def _median_run(runs: list[dict]) -> dict:
    """The run of median total time, with every run's total beside it (the machine is noisy:
    one run of the baseline has ranged from 5.0 to 7.0 s on the same file)."""
    ordered = sorted(runs, key=lambda r: r["total"])
    return {**ordered[len(ordered) // 2], "totals": [round(r["total"], 2) for r in runs]}


def measure(n: int, work: Path, repeat: int = 3) -> dict:
    t = time.perf_counter()
    if not (work / "complete").is_file():   # --keep DIR of an earlier run: measure its files again
        generate(n, work)
    generated = time.perf_counter() - t
    pki = pki_mod.load(work / "pki")
    mcf, db = work / f"MCF_{n}.xml", work / "world.sqlite"
    size_mb = mcf.stat().st_size / 1e6
    signer_cert = next(e for e in pki.entries if e.role == "requestingPartyFileSigning").certificate

    tiny = work / "MCF_10.xml"     # a 10-installation MCF of the same PKI: tmadkit's fixed cost
    if not tiny.is_file():
        write_mcf(tiny, 10, pki)

    bases, xmlsecs, ourss, fixeds, cs = [], [], [], [], []
    for _ in range(repeat):       # interleaved, so that a slow spell of the machine falls on all
        bases.append(_child(_BASELINE, str(mcf)))
        cs.append(_child(_AUTHENTICATION_C, str(mcf), str(signer_cert)))
        fixeds.append(_run_tmadkit(tiny, db, work, "out-10"))
        x = _xmlsec1(mcf, signer_cert)
        if x:
            xmlsecs.append(x)
        ourss.append(_run_tmadkit(mcf, db, work, "out", n))
    base, ours = _median_run(bases), _median_run(ourss)
    xmlsec = _median_run(xmlsecs) if xmlsecs else None
    fixed, c_steps = _median_run(fixeds), _median_run(cs)
    floor = fixed["total"] + c_steps["total"]
    # No schedule on this machine's cores finishes sooner than start-up (one core) followed by
    # the rest of the CPU time tmadkit spent, spread evenly over every core.
    cores = os.cpu_count() or 1
    bound = fixed["total"] + max(0.0, ours["cpu"] - fixed["cpu"]) / cores
    return {"installations": n, "file_mb": round(size_mb, 1), "generation_s": round(generated, 1), "runs": repeat,
            "baseline": base, "xmlsec1": xmlsec, "tmadkit": ours,
            "installations_per_s": round(n / ours["total"]),
            "ratio_time_vs_parse_validate": round(ours["total"] / base["total"], 2),
            "ratio_time_vs_xmlsec1": round(ours["total"] / xmlsec["total"], 2) if xmlsec else None,
            "ratio_peak_rss_vs_parse_validate": round(ours["peak_rss_mb"] / base["peak_rss_mb"], 2),
            "ratio_cpu_vs_parse_validate": round(ours["cpu"] / base["cpu"], 2),
            "floor": {"fixed": fixed, "authentication_c": c_steps, "total": round(floor, 2),
                      "ratio_vs_parse_validate": round(floor / base["total"], 2)},
            "cpu_bound": {"cores": cores, "total": round(bound, 2),
                          "ratio_vs_parse_validate": round(bound / base["total"], 2)}}


def _run_tmadkit(mcf: Path, db: Path, work: Path, out_name: str, n: int | None = None) -> dict:
    out = work / out_name
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="state-", dir=work) as state:   # a fresh MVF counter each run
        ours = _child(_TMADKIT, json.dumps(["validate", str(mcf), "--as", "DCC", "--world", str(db),
                                            "--pki", str(work / "pki"), "--state", state,
                                            "--at", AT.isoformat(), "--json", "--emit-mvf", str(out)]))
    if not ours["accepted"] or (n is not None and ours["installations"] != n):
        raise SystemExit(f"tmadkit did not process {mcf.name}: {ours}")
    return ours


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tmadkit.bench.common_validation", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="installations per MCF, comma-separated")
    ap.add_argument("--keep", type=Path, help="keep the generated files here (default: a temporary directory); "
                                                "files an earlier run kept there are measured again, not regenerated")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is reported "
                                                          "(default 3)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    base = args.keep or Path(tempfile.mkdtemp(prefix="tmadkit-bench-cv-"))
    results = []
    try:
        not_compiled = compile_bytecode()
        if not_compiled:
            print(f"tmadkit could not be compiled to bytecode, so its times include compiling it: {not_compiled}",
                  file=sys.stderr)
        for n in sizes:
            r = measure(n, base / str(n), max(1, args.repeat))
            results.append(r)
            if not args.json:
                b, x, o = r["baseline"], r["xmlsec1"], r["tmadkit"]
                print(f"{n:>8} installations, {r['file_mb']} MB (generated in {r['generation_s']} s)")
                print(f"  median of {r['runs']} run(s) each; every run's total in brackets")
                print(f"  baseline lxml parse {b['parse']:.2f} s + XSD {b['validate']:.2f} s = {b['total']:.2f} s "
                      f"{b['totals']}, peak RSS {b['peak_rss_mb']:.0f} MB")
                if x:
                    print(f"  xmlsec1 --verify {x['total']:.2f} s {x['totals']} ({'verified' if x['ok'] else 'FAILED'})"
                          + (f", peak RSS {x['peak_rss_mb']:.0f} MB" if x['peak_rss_mb'] else ""))
                worker = (f" (of which a worker process {o['worker_peak_rss_mb']:.0f} MB)"
                          if o.get("worker_peak_rss_mb") else "")
                print(f"  tmadkit authentication + Table 5.10 + signed MVF {o['total']:.2f} s {o['totals']}, "
                      f"{r['installations_per_s']} installations/s, peak RSS {o['peak_rss_mb']:.0f} MB{worker}, "
                      f"{o['installations_failed']} installations with FailedChecks, {o['mvf']}")
                f, c = r["floor"]["fixed"], r["floor"]["authentication_c"]
                print(f"  CPU (user + system, every thread and process): baseline {b['cpu']:.2f} s, "
                      + (f"xmlsec1 {x['cpu']:.2f} s, " if x else "")
                      + f"tmadkit {o['cpu']:.2f} s (ratio {r['ratio_cpu_vs_parse_validate']})")
                print(f"  floor, without Table 5.10: tmadkit on a 10-installation MCF {f['total']:.2f} s {f['totals']} "
                      f"+ parse {c['parse']:.2f} s + XSD {c['validate']:.2f} s beside xmlsec verify {c['verify']:.2f} s "
                      f"({c['beside']:.2f} s) {c['totals']} = {r['floor']['total']:.2f} s, "
                      f"{r['floor']['ratio_vs_parse_validate']} x baseline")
                cb = r["cpu_bound"]
                print(f"  bound from CPU time: start-up {f['total']:.2f} s + the rest of tmadkit's CPU "
                      f"({o['cpu'] - f['cpu']:.2f} s) over {cb['cores']} core(s) = {cb['total']:.2f} s, "
                      f"{cb['ratio_vs_parse_validate']} x baseline: no schedule of this work is faster")
                print(f"  ratios: time / (parse + XSD) {r['ratio_time_vs_parse_validate']} (target <= 4), "
                      f"time / xmlsec1 {r['ratio_time_vs_xmlsec1']}, "
                      f"peak RSS / (parse + XSD) {r['ratio_peak_rss_vs_parse_validate']} (target <= 1.5)")
                sys.stdout.flush()
        if args.json:
            print(json.dumps(results, indent=1))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
