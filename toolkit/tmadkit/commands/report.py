from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..conformance import write_report
from ..errors import InputError
from ._output import add_json_flag, emit_json

HELP = "rebuild the traceability report (HTML, Markdown, JSON) from a conformance run's results.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, help="results.json of a run (default: OUT/results.json if present)")
    p.add_argument("--out", type=Path, default=Path("tmadkit-report"), help="report folder (default ./tmadkit-report)")
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    path = args.results or (args.out / "results.json")
    results = None
    if path.is_file():
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    elif args.results:
        raise InputError("no such results file", file=str(path))
    model = write_report(args.out, results)
    s = model["summary"]
    if args.json:
        emit_json({"summary": s, "out": str(args.out), "with_results": results is not None})
    else:
        print(f"report: {s['clauses']} clauses ({s['checked']} checked, {s['not_testable']} not testable, "
              f"{s['not_encoded']} not yet encoded), {s['rules']} rules -> {args.out / 'report.html'}"
              + ("" if results else " (no run results: every rule shows 'not run')"))
    return 0
