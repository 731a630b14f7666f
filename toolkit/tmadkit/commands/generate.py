from __future__ import annotations

import argparse

from .. import generator, sources
from ..errors import InputError, StaleError
from ..rules import load_all
from ._output import add_json_flag, emit_json

HELP = "generate validators (generated/), Gherkin (features/) and the traceability index from rules/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if anything generated is stale, missing, extra or hand-edited")
    add_json_flag(p)


def _refuse_what_lint_refuses(catalogues) -> None:
    """Nothing is generated from rules lint rejects (a duplicate id would silently drop a rule,
    an unknown clause would be traced to nothing).  Suspect rules are the exception: an engineer
    regenerates after a new version to see what changed, and the suspect rules stay suspect."""
    from ..lint import lint

    _, findings = lint(catalogues)
    blocking = [f for f in findings if f.code != "suspect"]
    if blocking:
        shown = "\n  ".join(str(f) for f in blocking[:20])
        more = f"\n  ... and {len(blocking) - 20} more (tmadkit lint lists all)" if len(blocking) > 20 else ""
        raise InputError(f"{len(blocking)} rule problem(s), so generated/ and features/ were left as they were:"
                         f"\n  {shown}{more}")


def run(args: argparse.Namespace) -> int:
    ruleset = load_all()
    catalogues = sources.current_catalogues()
    artefacts = generator.build(ruleset, catalogues)
    if args.check:
        problems = generator.stale(artefacts)
        if args.json:
            emit_json({"ok": not problems, "files": len(artefacts.files), "problems": problems})
        elif problems:
            for p in problems:
                print(p)
        if problems:
            raise StaleError(f"{len(problems)} generated file(s) do not match rules/; run `tmadkit generate`")
        if not args.json:
            print(f"generate --check: {len(artefacts.files)} generated files match rules/")
        return 0
    _refuse_what_lint_refuses(catalogues)
    written = generator.write(artefacts)
    rules = artefacts.manifest["rules"]
    testable = sum(1 for r in rules.values() if r["testable"])
    witnesses = sum(r.get("witnesses", 0) for r in rules.values())
    summary = {"files": len(written), "rules": len(rules), "testable_rules": testable, "witnesses": witnesses}
    if args.json:
        emit_json(summary | {"written": written})
    else:
        print(f"generate: {len(written)} files from {len(rules)} rules ({testable} testable, {witnesses} witnesses)")
    return 0
