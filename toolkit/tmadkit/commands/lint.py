from __future__ import annotations

import argparse

from .. import sources
from ..lint import lint
from ._output import add_json_flag, emit_json

HELP = "check rules: schema, unknown clauses, duplicate ids, missing witnesses, suspect citations"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    files, findings = lint(sources.current_catalogues())
    rules = sum(len(f.rules) for f in files)
    if args.json:
        emit_json({"rule_files": len(files), "rules": rules, "ok": not findings,
                   "findings": [f.to_dict() for f in findings]})
    else:
        for f in findings:
            print(f)
        suspect = sum(1 for f in findings if f.code == "suspect")
        print(f"lint: {len(files)} rule files, {rules} rules, {len(findings)} findings"
              + (f" ({suspect} suspect)" if suspect else ""))
    return 1 if findings else 0
