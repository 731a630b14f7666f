"""`tmadkit world load|check DIR`: the reference-data world (see tmadkit.world)."""
from __future__ import annotations

import argparse

from ..world import check_world, load_database, load_world
from ._output import add_json_flag, emit_json

HELP = "load or check a reference-data world (CPL, EPC, Registration Data, parties, certificates)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="world_command", metavar="ACTION", required=True)
    p = sub.add_parser("load", help="validate DIR and load it into an SQLite database")
    p.add_argument("dir", metavar="DIR", help="the world directory")
    p.add_argument("--db", metavar="PATH", default="world.sqlite",
                   help="database to write; replaced atomically, only if everything loads (default: %(default)s)")
    add_json_flag(p)
    p.set_defaults(_world=_load)
    c = sub.add_parser("check", help="report records that contradict one another (exit 1 if any)")
    c.add_argument("dir", metavar="DIR", help="the world directory")
    add_json_flag(c)
    c.set_defaults(_world=_check)


def run(args: argparse.Namespace) -> int:
    return args._world(args)


def _load(args: argparse.Namespace) -> int:
    report = load_database(args.dir, args.db)
    if args.json:
        emit_json(report.to_dict())
        return 0
    print(f"loaded {args.dir} into {report.db} in {report.total_seconds:.2f} s")
    for t in report.tables:
        print(f"  {t.table:<32} {t.records:>10,} records  {t.seconds:7.2f} s  ({t.file})")
    print(f"  {'indexes':<32} {'':>10}          {report.index_seconds:7.2f} s")
    return 0


def _check(args: argparse.Namespace) -> int:
    with load_world(args.dir) as world:
        findings = check_world(world)
        counts = world.counts()
    if args.json:
        emit_json({"dir": args.dir, "records": counts, "inconsistencies": [f.to_dict() for f in findings]})
    elif findings:
        for f in findings:
            print(f)
        print(f"{len(findings)} inconsistenc{'y' if len(findings) == 1 else 'ies'} in {args.dir}")
    else:
        print(f"{args.dir}: consistent ({sum(counts.values()):,} records)")
    return 1 if findings else 0
