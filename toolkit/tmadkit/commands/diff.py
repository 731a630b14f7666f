from __future__ import annotations

import argparse
from pathlib import Path

from .. import atomic, catalogue, registry, sources
from ..diff import assess, compare, to_html, to_markdown
from ..errors import InputError
from ..rules import load_all
from ._output import add_json_flag, emit_json

HELP = "clause-level changes between two versions of a document, the rules they make suspect, and the regeneration impact"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("document", metavar="DOC", help="e.g. TMAD or AC")
    p.add_argument("old", metavar="OLD", help="old version, e.g. 5.0")
    p.add_argument("new", metavar="NEW", help="new version, e.g. 5.1")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML rendering")
    p.add_argument("--md", type=Path, metavar="FILE", help="write the Markdown to FILE instead of printing it")
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    known = sources.versions(args.document)
    for v in (args.old, args.new):
        if v not in known:
            raise InputError(f"{args.document} has no catalogue version {v!r}; known: {', '.join(known) or 'none'}")
    if args.old == args.new:
        raise InputError(f"OLD and NEW are both {args.document} {args.old}: name two versions to compare")
    old = catalogue.load(args.document, args.old)
    new = catalogue.load(args.document, args.new)
    diff = assess(compare(old, new), load_all(), registry.manifest(), sources.current_version(args.document))
    if args.html:
        atomic.write_text(args.html, to_html(diff))
    if args.json:
        emit_json(diff.to_dict())
    elif args.md:
        atomic.write_text(args.md, to_markdown(diff))
    else:
        print(to_markdown(diff), end="")
    return 0
