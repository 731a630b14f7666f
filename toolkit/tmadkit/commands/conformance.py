from __future__ import annotations

import argparse
import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from .. import bundle, conformance
from ..bdd.plugin import marker_name
from ..errors import InputError
from ..iut import conflict
from ..traceability import suspect_results
from ._output import add_json_flag, emit_json

HELP = "run the generated features against an implementation (default: the built-in reference) and write the report"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a timeout is a positive number of seconds")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    iut = p.add_argument_group("implementation under test (tmadkit/iut/CONTRACT.md); default: the reference")
    iut.add_argument("--iut", metavar="MODULE:FACTORY",
                     help="in-process Python: a callable returning it (MODULE may be a path to a .py file)")
    iut.add_argument("--iut-cmd", metavar="'CMD {file}'",
                     help="a command run per file, printing a JSON answer; placeholders {file} {name} {as} {at} {pki}")
    iut.add_argument("--iut-inbox", type=Path, metavar="DIR", help="file exchange: the implementation's inbox")
    iut.add_argument("--iut-outbox", type=Path, metavar="DIR", help="file exchange: its outbox (verdict files)")
    iut.add_argument("--iut-declaration", type=Path, metavar="FILE",
                     help="JSON: the roles, GroupIDs and TMAD versions it supports (the rest is not applicable)")
    iut.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                     help="per scenario, for a command or file exchange (default 30); then it is an error. "
                          "Refused for an in-process implementation, which cannot be timed")
    iut.add_argument("--tmad", "--tmad-version", dest="tmad_version", metavar="VERSION",
                     help="run that TMAD version's suite (e.g. 5.0, 5.1, 6.1F): its scenarios, under its values")
    p.add_argument("--out", type=Path, default=Path("tmadkit-report"), help="report folder (default ./tmadkit-report)")
    p.add_argument("--bundle", type=Path, metavar="OUT.zip",
                   help="also write an evidence bundle: report, exports, rules, sources, generated artefacts, "
                        "outputs and a SHA-256 manifest (check it with `tmadkit verify-bundle`)")
    p.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    p.add_argument("-m", dest="markexpr", help="only scenarios with these tags, e.g. 'TMAD_T5_5 and actor_DCC'")
    add_json_flag(p)


def summary_lines(model: dict, out: Path) -> list[str]:
    s = model["summary"]
    sc = s.get("scenarios", {})
    lines = [f"tmadkit conformance: {model['run']['implementation']}",
             f"  clauses      {s['clauses']} (TMAD and Appendix AC clauses, definitions, table rows)",
             f"  testable     {s['checked']} checked, {s['not_testable']} not testable, {s['not_encoded']} not yet encoded",
             f"  rules        {s['rules']} ({s['testable_rules']} testable, {s['witnesses']} witnesses; "
             f"{s['disputed_rules']} disputed, {s['suspect_rules']} suspect)",
             f"  scenarios    {sc.get('passed', 0)} passed, {sc.get('failed', 0)} failed, "
             f"{sc.get('not applicable', 0)} not applicable, {sc.get('error', 0)} error, of {sc.get('total', 0)}",
             f"  report       {out / 'report.html'} (also report.md, report.json, junit.xml, cucumber.json)"]
    failed = [r for r in model["rules"].values() if r.get("result") in ("failed", "error")]
    for r in failed[:10]:
        lines.append(f"  {r['result'].upper()} {r['id']} [{', '.join(c['id'] for c in r['clauses'])}]")
        for run in [x for x in r["runs"] if x["status"] in ("failed", "error")][:2]:
            lines.append(f"      {run.get('witness')}: {(run.get('message') or '').splitlines()[0][:160] if run.get('message') else ''}")
    if len(failed) > 10:
        lines.append(f"  … and {len(failed) - 10} more failed rules (see the report)")
    suspect = suspect_results(model)
    if suspect:
        lines.append(f"  SUSPECT      {len(suspect)} rule(s) ran without failing, but cite clause text changed or "
                     f"removed since review: not counted as passed")
        for r in suspect[:10]:
            lines.append(f"      {r['id']}: " + ", ".join(f"{c['clause']} {c['why']}" for c in r["stale_citations"]))
        lines.append("      read each change (tmadkit diff), then `tmadkit review --rule ID`")
    return lines



def run_time() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set (the reproducible-builds convention): with it, a rerun
    over the same inputs gives a byte-identical evidence bundle."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), timezone.utc)
        except ValueError:
            raise InputError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds") from None
    return datetime.now(timezone.utc).replace(microsecond=0)


def run(args: argparse.Namespace) -> int:
    # Before anything runs or is written: two adapters named at once is the caller's mistake.
    why = conflict(iut=args.iut, cmd=args.iut_cmd, inbox=args.iut_inbox, outbox=args.iut_outbox, timeout=args.timeout)
    if why:
        raise InputError(why)
    for flag, expr in (("-k", args.keyword), ("-m", args.markexpr)):
        if expr:   # as the caller wrote it, so that a column in the message is a column of theirs
            conformance.check_expression(flag, expr)
    extra = []
    if args.keyword:
        extra += ["-k", args.keyword]
    marks = [f"({args.markexpr})"] if args.markexpr else []
    if args.tmad_version:
        from .. import sources

        known = sources.versions("TMAD")
        if args.tmad_version not in known:
            raise InputError(f"--tmad {args.tmad_version}: no such TMAD version (catalogued: {', '.join(known)})")
        # the version's suite: scenarios tagged @tmad-version-<V> (see generator._feature)
        marks.append(marker_name(f"tmad-version-{args.tmad_version}"))
    if marks:
        extra += ["-m", " and ".join(marks)]
    started = run_time().isoformat()
    options = {"cmd": args.iut_cmd, "inbox": args.iut_inbox, "outbox": args.iut_outbox, "timeout": args.timeout,
               "declaration": args.iut_declaration, "version": args.tmad_version}
    model = conformance.run(args.out, args.iut, show_progress=not args.json and sys.stderr.isatty(), pytest_args=extra,
                            iut_options=options)
    sc = model["summary"].get("scenarios", {})
    bundled = None
    if args.bundle:
        bundled = bundle.write(args.bundle, args.out, {**model["run"], "started": started})
    if args.json:
        emit_json({"summary": model["summary"], "run": {**model["run"], "started": started}, "out": str(args.out),
                   **({"bundle": bundled} if bundled else {})})
    else:
        print("\n".join(summary_lines(model, args.out)))
        print(f"  started      {started}")
        if bundled:
            print(f"  bundle       {bundled['path']} ({bundled['files']} files; check with `tmadkit verify-bundle`)")
    return 1 if sc.get("failed") or sc.get("error") or not sc.get("total") or suspect_results(model) else 0

