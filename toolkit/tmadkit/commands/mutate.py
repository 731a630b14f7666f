from __future__ import annotations

import argparse

from .. import mutation
from ..rules import load_all
from ._output import add_json_flag, emit_json

HELP = "mutation-test the generated checks against their witnesses (proof that every check can fail)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    report = mutation.run(load_all())
    neg_killed, neg_total = report.count("negation")
    const_killed, const_total = report.count("constant")
    if args.json:
        emit_json({"rules": report.rules, "witnesses": report.witnesses,
                   "negation": {"killed": neg_killed, "total": neg_total},
                   "constant": {"killed": const_killed, "total": const_total},
                   "survivors": [m.__dict__ for m in report.survivors]})
    else:
        for m in report.survivors:
            print(f"SURVIVED {m.rule}: {m.kind} mutant {m.description}")
        print(f"mutate: {report.rules} rules, {report.witnesses} witnesses; negation mutants killed "
              f"{neg_killed}/{neg_total}; constant mutants killed {const_killed}/{const_total}")
    return 1 if report.survivors else 0
