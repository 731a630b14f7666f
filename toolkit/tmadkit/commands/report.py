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


def read_results(path: Path) -> dict:
    """A run's results.json, checked against toolkit/tmadkit/results.schema.json and the rules:
    a malformed or foreign file is refused, naming the record, before the report is touched."""
    import jsonschema

    from ..rules import load_all

    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc.reason} at byte {exc.start})", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    schema = json.loads((Path(__file__).resolve().parents[1] / "results.schema.json").read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(results))
    if error is not None:
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        raise InputError(f"not a conformance run's results: {error.message}", file=str(path), where=where)
    known = {r.id for r in load_all()}
    for i, s in enumerate(results["scenarios"]):
        for rid in [s["rule"], *s.get("rules", [])]:
            if rid not in known:
                raise InputError(f"a result for rule {rid}, which is not in rules/ (results of another "
                                 f"version of the rules?)", file=str(path), where=f"/scenarios/{i}")
    return results


def run(args: argparse.Namespace) -> int:
    path = args.results or (args.out / "results.json")
    results = None
    if path.is_file():
        results = read_results(path)
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
