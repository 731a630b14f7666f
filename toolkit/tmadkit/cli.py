"""The `tmadkit` console script.

Each subcommand lives in tmadkit/commands/<name>.py and exposes
    HELP: str
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int
so a command is one small module and this file never grows with them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __doc__ as PACKAGE_DOC, __version__
from .errors import TmadkitError

# Order is the order of `tmadkit --help`: the pipeline, then the tools around it.
COMMANDS = ("ingest", "generate", "lint", "review", "report", "conformance", "pack", "mutate", "diff", "validate", "pki",
            "make-file", "world", "verify-bundle")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tmadkit", description=PACKAGE_DOC)
    parser.add_argument("--version", action="version", version=f"tmadkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module_name = f"tmadkit.commands.{name.replace('-', '_')}"   # make-file -> make_file
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except TmadkitError as exc:
        print(f"tmadkit {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
