from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from ..authentication.context import AUTHENTICATORS
from ..authentication.received import ReceivedFile
from ..authentication.validate import load_context, name_ok, validate_file
from ..errors import InputError
from ._output import add_json_flag, emit_json

HELP = "authenticate migration files as DCC, DCO, S1SP or Commissioning Party (TMAD Table 5.9, Clause 6.1, Table 10.2)"


def _time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--at {text!r} is not an ISO 8601 date-time") from None
    if t.tzinfo is None:
        raise InputError(f"--at {text!r} has no UTC offset (write e.g. 2026-03-01T12:00:00+00:00)")
    return t


def _fact(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE, e.g. supplier_signifier=EDFE")
    return key, value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--as", dest="authenticator", required=True, choices=["DCC", "DCO", "S1SP", "CP"],
                   help="the Authenticator (CP = Commissioning Party, which also applies Clause 6.1)")
    p.add_argument("--pki", type=Path, help="a `tmadkit pki init` directory: the certificates the Authenticator trusts")
    p.add_argument("--state", type=Path, default=Path("tmadkit-state"),
                   help="where the Authenticator's Stored Counters live (SQLite; default ./tmadkit-state)")
    p.add_argument("--at", help="check time, ISO 8601 with offset (default: now)")
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


def run(args: argparse.Namespace) -> int:
    at = _time(args.at) if args.at else datetime.now(timezone.utc).replace(microsecond=0)
    ctx = load_context(AUTHENTICATORS[args.authenticator], pki_dir=args.pki, state_dir=args.state, at=at)
    extra = _nest(args.fact)
    results = []
    for path in args.files:
        if not path.is_file():
            raise InputError("no such file", file=str(path))
        results.append(validate_file(ReceivedFile.read(path), ctx, extra))
    ok = all(r["accepted"] and name_ok(r) for r in results)
    if args.json:
        emit_json(results if len(results) > 1 else results[0])
    else:
        for r in results:
            if r["accepted"]:
                name = "" if name_ok(r) else f"; name: {r['naming']['message']} [{r['naming']['rule']}]"
                print(f"ACCEPTED {r['file']} ({r['file_type']}) as {r['authenticator']}{name}")
            else:
                f = r["failure"]
                print(f"REJECTED {r['file']} at step {f['step']} [{f['rule']}; {f['clause']}]: {f['message']}\n"
                      f"         outcome: {f['outcome']}")
    return 0 if ok else 1
