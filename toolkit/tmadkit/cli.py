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
import os
import sqlite3
import sys

from . import __doc__ as PACKAGE_DOC, __version__
from .errors import TmadkitError

# Order is the order of `tmadkit --help`: the pipeline, then the tools around it.
COMMANDS = ("ingest", "generate", "lint", "review", "report", "conformance", "pack", "mutate", "diff", "validate", "pki",
            "make-file", "world", "verify-bundle")


BROKEN_PIPE = 128 + 13      # the status of a process SIGPIPE ends, which is what a shell expects


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that command's: importing every command module
    (the generator's Jinja2, pytest for conformance, rich) takes 0.2 s and 14 MB that `validate`
    of a large file would carry to the end."""
    parser = argparse.ArgumentParser(prog="tmadkit", description=PACKAGE_DOC)
    parser.add_argument("--version", action="version", version=f"tmadkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else (only,):
        module_name = f"tmadkit.commands.{name.replace('-', '_')}"   # make-file -> make_file
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _command(argv: list[str]) -> str | None:
    """The command named on the line, if it is one: the options before it (--help, --version)
    take no value, so it is the first word that is not an option."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()      # here, where a closed pipe can still be answered
        return code
    except TmadkitError as exc:
        print(f"tmadkit {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader stopped early (`tmadkit ... --json | head`): what it read stands, and the
        # output still buffered goes nowhere rather than into a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except OSError as exc:
        # A path the user named cannot be read or written (missing, a directory, no permission,
        # already there): one line naming it, as for any other bad input.
        where = exc.filename2 if exc.filename2 is not None else exc.filename   # a rename: where it was going
        print(f"tmadkit {args.command}: {where + ': ' if where else ''}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        print(f"tmadkit {args.command}: a database it was given is not usable (corrupt, or not a tmadkit "
              f"database): {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
