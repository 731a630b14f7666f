from __future__ import annotations

import argparse
from pathlib import Path

from .. import pack
from ._output import add_json_flag, emit_json

HELP = "write a test pack: a rule's or clause's signed input files, a test PKI and the expected outcomes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", metavar="RULE_ID", help="one rule, e.g. TMAD-T5.9-5.9.2")
    which.add_argument("--clause", metavar="CLAUSE", help="every rule citing a clause or table, e.g. TMAD:T5.9")
    p.add_argument("--out", type=Path, required=True, help="pack folder (replaced whole)")
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    expected = pack.build(pack.select(args.rule, args.clause), args.out)
    if args.json:
        emit_json({"out": str(args.out), **expected})
        return 0
    sc = expected["scenarios"]
    print(f"tmadkit pack: {len(sc)} files in {args.out} ({sum(1 for s in sc if s['expected']['accepted'])} to accept, "
          f"{sum(1 for s in sc if not s['expected']['accepted'])} to reject); expected outcomes in "
          f"{args.out / 'expected.json'}; certificates in {args.out / 'pki'}")
    if expected["not_in_pack"]:
        print(f"  {len(expected['not_in_pack'])} witnesses judged from facts are not in the pack (listed in expected.json)")
    return 0
