"""The command adapter: `--iut-cmd 'their-validator {file}'`, run once per file.

Placeholders are substituted per argument after shell-style splitting (no shell runs, so a
path with spaces stays one argument): {file} the file's path, {name} its name, {as} the
Authenticator, {at} the check time (ISO 8601), {pki} the test PKI directory.  The command
prints a JSON answer (contract.check_answer) on stdout and exits 0 (accepted) or 1
(rejected); anything else, or no answer within the timeout, is an error on the scenario.  Its
answer is complete when it exits: processes it leaves running in its session are killed then.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from . import contract
from .contract import AUTHENTICATE, Declaration, IUTError
from .files import AuthRequest

PLACEHOLDERS = ("{file}", "{name}", "{as}", "{at}", "{pki}")
OUTPUT_LIMIT = 4000   # characters of stdout/stderr kept as the actual output


class CommandAdapter:
    kind = "command"
    operations = {AUTHENTICATE}
    takes_files = True

    def __init__(self, template: str, *, timeout: float, declaration: Declaration | None = None):
        self.argv = shlex.split(template)
        if not any("{file}" in a for a in self.argv):
            raise ValueError(f"--iut-cmd {template!r}: the command must take the file, as {{file}}")
        program = self.argv[0]
        # A program that is not there would make every scenario an error, and the report would
        # be about the command line, not the implementation: refuse it, as a factory that will
        # not import is refused.  (A program named by a placeholder is known only per file.)
        if not any(p in program for p in PLACEHOLDERS) and shutil.which(program) is None:
            why = ("not found on PATH" if os.sep not in program else
                   "no such file" if not os.path.exists(program) else "not an executable file")
            raise ValueError(f"--iut-cmd {template!r}: cannot run {program!r}: {why}")
        self.template, self.timeout = template, timeout
        self.description = f"command: {template}"
        self.declaration = declaration or Declaration("the implementation", roles=contract.AUTHENTICATOR_ROLES)
        self._dir = Path(tempfile.mkdtemp(prefix="tmadkit-cmd-"))

    def _args(self, path: Path, request: AuthRequest) -> list[str]:
        values = {"{file}": str(path), "{name}": request.file_name, "{as}": request.authenticator,
                  "{at}": request.at.isoformat(), "{pki}": str(request.pki)}
        out = []
        for a in self.argv:
            for k, v in values.items():   # only our placeholders: other braces (JSON, globs) stay as written
                a = a.replace(k, v)
            out.append(a)
        return out

    def authenticate(self, request: AuthRequest) -> dict:
        folder = Path(tempfile.mkdtemp(dir=self._dir))
        path = folder / request.file_name
        path.write_bytes(request.content)
        argv = self._args(path, request)
        # Output to files, not pipes: the answer is complete when the command exits, and a process
        # it left behind holding a pipe would otherwise keep it from looking finished until the timeout.
        with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
            try:
                # Own session, so what it started is killed with it, and nothing else.
                proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f, start_new_session=True)
            except OSError as exc:
                raise IUTError(f"cannot run {argv[0]!r}: {exc.strerror}", {"argv": argv}) from None
            timed_out = False
            try:
                proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_session(proc.pid)    # the command, on a timeout; else what it left running
                proc.wait()
                path.unlink(missing_ok=True)
                shutil.rmtree(folder, ignore_errors=True)   # and whatever the command wrote beside its input
            out, err = _read(out_f), _read(err_f)
        if timed_out:
            raise IUTError(f"no answer within {self.timeout:g} s (killed)", _output(argv, None, out, err))
        if proc.returncode not in (0, 1):
            raise IUTError(f"the command exited with {_code(proc.returncode)}; stderr: {_tail(err)}",
                           _output(argv, proc.returncode, out, err))
        try:
            data = json.loads(out)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise IUTError(f"stdout is not a JSON answer: {_tail(out)!r}; exit code {proc.returncode}; stderr: {_tail(err)}",
                           _output(argv, proc.returncode, out, err)) from None
        answer = contract.check_answer(data, "the command's answer")
        if answer["accepted"] != (proc.returncode == 0):
            raise IUTError(f"exit code {proc.returncode} contradicts \"accepted\": {answer['accepted']}",
                           _output(argv, proc.returncode, out, err))
        return answer


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass    # nothing of it is left


def _read(f) -> bytes:
    f.seek(0)
    return f.read()


def _code(rc: int) -> str:
    return f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"


def _tail(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip()[-OUTPUT_LIMIT:] or "(empty)"


def _output(argv, rc, out: bytes, err: bytes) -> dict:
    return {"argv": argv, "exit_code": rc, "stdout": _tail(out), "stderr": _tail(err)}
