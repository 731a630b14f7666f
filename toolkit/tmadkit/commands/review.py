from __future__ import annotations

import argparse

from .. import sources
from ..errors import InputError
from ..citations import citing_catalogue
from ..review import review_file
from ..rules import load_all, load_file, rule_files
from ._output import add_json_flag, emit_json

HELP = "mark suspect citations reviewed: record the catalogue's current clause fingerprint in the rules"


def add_arguments(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--rule", action="append", metavar="RULE_ID", help="review this rule (repeatable)")
    who.add_argument("--all", action="store_true", help="review every rule (after reading the diff!)")
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    catalogues = sources.current_catalogues()
    only = set(args.rule) if args.rule else None
    if only:
        known = {r.id for r in load_all()}
        missing = sorted(only - known)
        if missing:
            raise InputError(f"unknown rule id(s): {', '.join(missing)}")
    stamps = []
    for path in rule_files():
        document = load_file(path).document
        stamps += review_file(path, citing_catalogue(catalogues, document), only, args.dry_run)
    if args.json:
        emit_json({"dry_run": args.dry_run, "stamped": [s.__dict__ for s in stamps]})
    else:
        for s in stamps:
            print(f"{s.file}:{s.line}: {s.clause} {s.old[:12]}… → {s.new[:12]}…")
        print(f"review: {len(stamps)} citation(s) {'would be ' if args.dry_run else ''}updated")
    return 0
