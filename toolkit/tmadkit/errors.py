"""Errors a user sees: each names the file, the place in it and, where known, the clause."""
from __future__ import annotations


class TmadkitError(Exception):
    """An error reported to the user as one clear line, with a non-zero exit code."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 where: str | None = None, clause: str | None = None):
        self.file, self.line, self.where, self.clause = file, line, where, clause
        self.message = message
        place = ""
        if file:
            place = f"{file}:{line}" if line else file
        parts = [p for p in (place, where and f"at {where}", clause and f"[{clause}]") if p]
        super().__init__(f"{' '.join(parts)}: {message}" if parts else message)


class InputError(TmadkitError):
    """Malformed input: a rule file, a source text, an XML file, a certificate, a file name."""


class StaleError(TmadkitError):
    """Generated artefacts do not match what the rules generate."""

    exit_code = 1


class LintError(TmadkitError):
    exit_code = 1


class WorkerError(TmadkitError):
    """A worker process of tmadkit's own failed, or disagreed with the main process: a fault
    in tmadkit or the machine, not in the input; no result is given for the file."""

    exit_code = 3
