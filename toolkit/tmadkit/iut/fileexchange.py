"""The file-exchange adapter, modelled on the SMETS1 Migration Interface (TMAD Clause 9).

tmadkit puts each inbound file in the implementation's inbox, then a request file
`<id>.request.json` saying who is authenticating and when (the test harness's control channel:
the Migration Interface itself carries only the files).  The implementation answers with
`<id>.verdict.json` in its outbox, or with `{"error": why}` there when it cannot judge the
request (an error on that scenario, at once).  The TMAD has no rejection file (a rejected file is discarded
and an Incident raised), so the verdict file is the only way a test can see a rejection.
Both sides write by rename, so neither ever reads half a file.  No verdict within the timeout
is an error on that scenario; the run goes on.
"""
from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from pathlib import Path

from . import contract
from .contract import AUTHENTICATE, Declaration, IUTError
from .files import AuthRequest

POLL_SECONDS = 0.02
SET_ASIDE = ".failed"   # appended to a request's name by an implementation that cannot answer it


def set_aside(request: Path) -> Path:
    return request.with_name(request.name + SET_ASIDE)


def write_atomically(path: Path, data: bytes) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(data)
    os.replace(part, path)


class FileExchangeAdapter:
    kind = "file exchange"
    operations = {AUTHENTICATE}
    takes_files = True

    def __init__(self, inbox: Path, outbox: Path, *, timeout: float, declaration: Declaration | None = None):
        for label, d in (("inbox", inbox), ("outbox", outbox)):
            if not Path(d).is_dir():
                raise ValueError(f"--iut-{label} {d}: not a directory")
        self.inbox, self.outbox, self.timeout = Path(inbox), Path(outbox), timeout
        self.description = f"file exchange: inbox {inbox}, outbox {outbox}"
        self.declaration = declaration or Declaration("the implementation", roles=contract.AUTHENTICATOR_ROLES)
        self._run = uuid.uuid4().hex[:8]
        self._seq = itertools.count(1)

    def authenticate(self, request: AuthRequest) -> dict:
        rid = f"{self._run}-{next(self._seq):05d}"
        inbound = self.inbox / request.file_name
        write_atomically(inbound, request.content)
        envelope = {"contract": contract.CONTRACT_VERSION, "request": rid, **request.envelope()}
        request_file = self.inbox / f"{rid}.request.json"
        write_atomically(request_file, json.dumps(envelope, indent=1).encode())
        verdict = self.outbox / f"{rid}.verdict.json"
        deadline = time.monotonic() + self.timeout
        gave_up = set_aside(request_file)
        while not verdict.exists():
            if gave_up.exists():
                # The implementation could not answer even with a refusal: none will come.  What
                # it set aside is its record (never read again); the file is ours to withdraw.
                inbound.unlink(missing_ok=True)
                raise IUTError(f"the implementation set {request_file.name} aside without an answer "
                               f"(its own log says why)", {"request": envelope})
            if time.monotonic() > deadline:
                pending = sorted(p.name for p in self.inbox.iterdir() if not p.name.startswith("."))
                # Withdrawn (the request first, which is what the other side acts on): left
                # there, it would be found stale by an implementation that comes up after this
                # run, whose PKI folder is gone by then.
                request_file.unlink(missing_ok=True)
                inbound.unlink(missing_ok=True)
                raise IUTError(f"no {verdict.name} in the outbox within {self.timeout:g} s (request withdrawn)",
                               {"request": envelope, "inbox_still_holds": pending[:20]})
            time.sleep(POLL_SECONDS)
        try:
            data = json.loads(verdict.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IUTError(f"{verdict.name} is not a JSON answer: {exc}", {"request": envelope}) from None
        why = contract.refusal(data, verdict.name)
        if why is not None:
            # The implementation may have left them (it owes nothing for a refused request);
            # they would otherwise be found stale, as after a timeout.
            request_file.unlink(missing_ok=True)
            inbound.unlink(missing_ok=True)
            raise IUTError(f"the implementation refused the request: {why}", {"request": envelope, "answer": data})
        return contract.check_answer(data, verdict.name)
