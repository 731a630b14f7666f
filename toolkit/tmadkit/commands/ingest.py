from __future__ import annotations

import argparse

from .. import sources
from ..errors import InputError
from ._output import add_json_flag, emit_json

HELP = "parse the source texts in spec/sources into clause catalogues (spec/catalogue/DOC/VERSION.yaml)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("documents", nargs="*", metavar="DOC", help="documents to ingest (default: all, e.g. TMAD AC)")
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    chosen = sources.catalogued()
    if args.documents:
        known = {sources.document_of(s, spec) for s, spec in chosen}
        unknown = sorted(set(args.documents) - known)
        if unknown:
            raise InputError(f"unknown document(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        chosen = [(s, spec) for s, spec in chosen if sources.document_of(s, spec) in args.documents]
    results = []
    for s, spec in chosen:
        c = sources.ingest(s, spec)
        kinds: dict[str, int] = {}
        for e in c.entries:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        results.append({"document": c.document, "version": c.version, "source": c.source,
                        "entries": len(c.entries), "counted": len(c.counted()), "by_kind": kinds})
    if args.json:
        emit_json({"catalogues": results})
    else:
        for r in results:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(r["by_kind"].items()))
            print(f"{r['document']} {r['version']}: {r['entries']} entries ({r['counted']} clauses, "
                  f"definitions and table rows) from {r['source']} [{kinds}]")
    return 0
