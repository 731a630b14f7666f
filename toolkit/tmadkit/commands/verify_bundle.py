from __future__ import annotations

import argparse
from pathlib import Path

from ..bundle import verify
from ._output import add_json_flag, emit_json

HELP = "check an evidence bundle: every file against the SHA-256 digests in its manifest"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, metavar="BUNDLE.zip")
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    result = verify(args.bundle)
    if args.json:
        emit_json({"bundle": str(args.bundle), "ok": result.ok, "files": result.files, "problems": result.problems})
    else:
        for p in result.problems:
            print(f"ALTERED {p}")
        print(f"verify-bundle: {args.bundle}: {result.files} files, "
              + ("all digests match" if result.ok else f"{len(result.problems)} problem(s)"))
    return 0 if result.ok else 1
