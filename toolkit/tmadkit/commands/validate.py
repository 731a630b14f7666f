from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from pathlib import Path

from ..authentication.context import AUTHENTICATORS
from ..authentication.received import ReceivedFile
from ..authentication.validate import load_context, name_ok, validate_file
from ..common_validation import collector
from ..common_validation.speculative import SpeculativeCommonValidation
from ..errors import InputError
from ..runtime.files import verify_ahead
from ._output import add_json_flag, emit_json

SHOWN = 20   # FailedChecks printed in text mode; --json has them all

HELP = ("authenticate migration files as DCC, DCO, S1SP, Commissioning Party or Requesting Party (TMAD Table 5.9, "
        "Clause 6.1, Table 10.2); with --world, the DCC's Table 5.10 checks of an MCF and its MVF; as DCO or S1SP, "
        "the Migration Group (Encrypted) File data validation of each installation of an MEF (with its MCF) or MGF")


def _time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--at {text!r} is not an ISO 8601 date-time") from None
    if t.tzinfo is None:
        raise InputError(f"--at {text!r} has no UTC offset (write e.g. 2026-03-01T12:00:00+00:00)")
    return t


def _counter(text: str) -> int:
    """An MVFCounter: the XSD's FileCounter, 0 .. 2**64 - 1 (refused here, not after the MCF
    it answers has been accepted and its counter stored)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= n < 2 ** 64:
        raise argparse.ArgumentTypeError(f"{n} is outside 0 .. 2^64-1 (a FileCounter, Table 10.1)")
    return n


def _fact(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE, e.g. supplier_signifier=EDFE")
    return key, value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--as", dest="authenticator", required=True, choices=["DCC", "DCO", "S1SP", "CP", "RP"],
                   help="the Authenticator (CP = Commissioning Party, which also applies Clause 6.1; "
                        "RP = Requesting Party, which authenticates MVFs, Clause 5.11)")
    p.add_argument("--pki", type=Path, help="a `tmadkit pki init` directory: the certificates the Authenticator trusts")
    p.add_argument("--state", type=Path, default=Path("tmadkit-state"),
                   help="where the Authenticator's Stored Counters live (SQLite; default ./tmadkit-state)")
    p.add_argument("--at", help="check time, ISO 8601 with offset (default: now)")
    p.add_argument("--world", type=Path, metavar="DIR",
                   help="reference data (a world directory, spec/world/README.md, or a loaded world database): "
                        "its certificate registry is the Authenticator's (with --pki's added); an MCF the DCC "
                        "accepts then gets the Table 5.10 checks, reported per installation as `installations`")
    p.add_argument("--emit-mvf", type=Path, metavar="OUTDIR",
                   help="with --as DCC --world: write the signed Migration Common Validation File (named per "
                        "Table 10.2) to OUTDIR; the signing key is the s1SPMigrationSigning entry of --pki DIR")
    p.add_argument("--mvf-counter", type=_counter, metavar="N",
                   help="MVFCounter of the emitted MVF (default: the next for the Requesting Party, kept in --state)")
    p.add_argument("--fact", type=_fact, action="append", default=[], metavar="KEY=VALUE",
                   help="extra facts for naming checks, e.g. supplier_signifier=EDFE, related.scf_supplier_signifier=EDFE")
    add_json_flag(p)


def _nest(pairs: list[tuple[str, str]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _open_world(path: Path, writable: bool):
    """A world directory is loaded into a temporary database; a database file is opened as it
    is, or copied first when the PKI's certificates are to be added to its registry."""
    import shutil
    import tempfile

    from ..world import World, load_world

    if path.is_dir():
        return load_world(path)
    if not path.is_file():
        raise InputError("no such world directory or database", file=str(path))
    if not writable:
        return World(path)
    tmp = tempfile.TemporaryDirectory(prefix="tmadkit-world-")
    copy = Path(tmp.name) / "world.sqlite"
    shutil.copyfile(path, copy)
    try:
        return World(copy, _cleanup=tmp)
    except InputError as exc:      # name the user's file, not the copy
        tmp.cleanup()
        raise InputError(exc.message, file=str(path), line=exc.line, where=exc.where, clause=exc.clause) from None


def _check_paths(args: argparse.Namespace) -> None:
    """Every path the command will read or write, checked before the first file is
    authenticated: a later file that cannot be read must not leave an earlier one's counter
    stored, or its MVF written, under a run that then fails."""
    for path in args.files:
        if path.is_dir():
            raise InputError("is a directory, not a migration file", file=str(path))
        if not path.is_file():
            raise InputError("no such file", file=str(path))
    for option, path in (("--emit-mvf", args.emit_mvf), ("--state", args.state)):
        if path is not None and path.exists() and not path.is_dir():
            raise InputError(f"{option}: not a directory", file=str(path))


def run(args: argparse.Namespace) -> int:
    at = _time(args.at) if args.at is not None else datetime.now(timezone.utc).replace(microsecond=0)
    if args.emit_mvf is not None and (args.world is None or args.authenticator != "DCC" or args.pki is None):
        raise InputError("--emit-mvf needs --as DCC, --world DIR and --pki DIR (the MVF's signing key)")
    _check_paths(args)
    world = _open_world(args.world, writable=args.pki is not None) if args.world is not None else None
    try:
        return _run(args, at, world)
    finally:
        if world is not None:
            world.close()


def _run(args: argparse.Namespace, at: datetime, world) -> int:
    ctx = load_context(AUTHENTICATORS[args.authenticator], pki_dir=args.pki, state_dir=args.state, at=at,
                       world=world)
    extra = _nest(args.fact)
    from ..authentication.procedure import Procedure
    from ..group_validation.process import AUTHENTICATORS as GROUP_VALIDATORS, validate_group_files
    from ..rules import tmad_rules

    procedure = Procedure.load("authenticate", tmad_rules())   # the rules are read once for every step
    with collector.paused():       # collector.py says why
        pairs = []
        for path in args.files:
            received = ReceivedFile.read(path)
            result = _one_file(received, args, ctx, extra, procedure, world, at)
            # only the DCO and the S1SP read a file again (an MEF's rows read its MCF): no other run
            # keeps a file's bytes once it is done with them
            pairs.append((received if args.authenticator in GROUP_VALIDATORS else None, result))
        validate_group_files(pairs, args.authenticator)
        return _report(args, [r for _, r in pairs])


def _one_file(received: ReceivedFile, args: argparse.Namespace, ctx, extra: dict, procedure, world,
              at: datetime) -> dict:
    checking = world is not None and ctx.authenticator == "DCC"
    # Table 5.10 runs in a worker while Table 5.9 (mostly C, GIL released) authenticates;
    # its results are read only if the file is accepted (speculative.py says why that is safe).
    speculation = SpeculativeCommonValidation(received, world.path, at) if checking else None
    try:
        # Step 5.9.2's verification beside 5.9.1's XSD validation, where a core is free for it:
        # this thread and Table 5.10's worker keep two busy.  Measured at 10,000 installations on
        # 2 cores: 1.83 s against 2.01 s to authenticate alone, but 2.57 s against 2.48 s with
        # the worker, whose Python the third thread slows.
        if usable_cores() > (1 if speculation is None else 2):
            verify_ahead(received, ctx.registry)
        result = validate_file(received, ctx, extra, procedure=procedure)
        if checking and result["accepted"] and result["file_type"] == "MCF":
            from ..common_validation.process import process_mcf
            from ..smki import pki as pki_mod

            result.update(process_mcf(received, world, at, pki=pki_mod.load(args.pki) if args.pki else None,
                                      emit_dir=args.emit_mvf, state_dir=args.state,
                                      mvf_counter=args.mvf_counter, speculation=speculation))
    finally:
        received.settle()
        if speculation is not None:
            speculation.cancel()
    return result


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which a container may narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:     # not on Linux
        return os.cpu_count() or 1


def _report(args: argparse.Namespace, results: list[dict]) -> int:
    ok = all(r["accepted"] and name_ok(r) for r in results)
    if args.json:
        emit_json(results if len(results) > 1 else results[0])
    else:
        for r in results:
            if r["accepted"]:
                name = "" if name_ok(r) else f"; name: {r['naming']['message']} [{r['naming']['rule']}]"
                print(f"ACCEPTED {r['file']} ({r['file_type']}) as {r['authenticator']}{name}")
                if "installations" in r:
                    n = len(r["installations"])
                    print(f"         Table 5.10: {n - r['installations_failed']} of {n} installation(s) passed"
                          + (f"; MVF {r['mvf']['path']}" if r.get("mvf") else ""))
                    lines = [f"         {inst['chf']} FailedCheck {fc['step']}: {fc['detail']}"
                             for inst in r["installations"] for fc in inst["failed_checks"]]
                    print("\n".join(lines[:SHOWN] + ([f"         ... and {len(lines) - SHOWN} more (--json lists all)"]
                                                     if len(lines) > SHOWN else [])))
                if "group_validation" in r:
                    _print_group_validation(r["group_validation"])
            else:
                f = r["failure"]
                print(f"REJECTED {r['file']} at step {f['step']} [{f['rule']}; {f['clause']}]: {f['message']}\n"
                      f"         outcome: {f['outcome']}")
    return 0 if ok else 1


def _print_group_validation(g: dict) -> None:
    if "not_run" in g:
        print(f"         {g['procedure']}: not run: {g['not_run']}")
        return
    n = len(g["installations"])
    print(f"         {g['procedure']}: {n - g['installations_failed']} of {n} installation(s) passed")
    lines = [f"         {i['chf']} step {i['failure']['step']} [{i['failure']['rule']}]: {i['failure']['detail']}"
             for i in g["installations"] if i["failure"]]
    if lines:
        print("\n".join(lines[:SHOWN] + ([f"         ... and {len(lines) - SHOWN} more (--json lists all)"]
                                         if len(lines) > SHOWN else [])))
