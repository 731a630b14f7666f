"""A deliberately non-conformant Authenticator, to show failures pinned to clauses.

It is tmadkit's own Table 5.9 procedure (rules/tmad/table-5.9.yaml) with two mistakes of the
kind real implementations make:

1. **No anti-replay.**  It never rejects a file for a counter it has already stored (TMAD
   Table 5.7, steps 5.9.5-5.9.9).
2. **Checks in the wrong order.**  It checks the certificate's validity (step 5.9.4) before the
   signature (5.9.2), so a file whose KeyInfo names a certificate it does not hold is reported
   as a certificate failure at 5.9.4: the wrong FailedCheck, at the wrong step.

It plays the Authenticator only (as DCC, DCO, S1SP or Commissioning Party), and says so, so
every other role's scenario is *not applicable* rather than passed.  Three ways to run it:

    tmadkit conformance --iut examples/sloppy_authenticator.py:factory --out report-inprocess
    tmadkit conformance --iut-cmd 'python examples/sloppy_authenticator.py check {file} --as {as} --at {at} --pki {pki}' \\
        --iut-declaration examples/sloppy_authenticator.json --out report-command
    python examples/sloppy_authenticator.py serve --inbox box/in --outbox box/out &
    tmadkit conformance --iut-inbox box/in --iut-outbox box/out \\
        --iut-declaration examples/sloppy_authenticator.json --out report-files
"""
from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

from tmadkit.authentication.procedure import Procedure
from tmadkit.iut import files, reference_cli, serve
from tmadkit.reference import ReferenceImplementation
from tmadkit.runtime.verdict import FAIL, Verdict

DECLARATION = json.loads((Path(__file__).with_suffix(".json")).read_text(encoding="utf-8"))
ANTI_REPLAY = "TMAD-T5.7-*-authenticator"


@lru_cache(maxsize=1)
def sloppy_procedure() -> Procedure:
    proc = reference_cli.procedure()   # Table 5.9 as the reference reads it
    steps = [s for s in proc.steps if s["step"] != "5.9.5-5.9.9"]            # mistake 1: no anti-replay
    at = {s["step"]: i for i, s in enumerate(steps) if s["step"] in ("5.9.2", "5.9.4")}
    steps[at["5.9.2"]], steps[at["5.9.4"]] = steps[at["5.9.4"]], steps[at["5.9.2"]]   # mistake 2: 5.9.4 first
    return dataclasses.replace(proc, steps=steps)


def authenticate(file_name: str, content: bytes, *, authenticator: str, at: datetime, pki: Path) -> dict:
    """The contract's Python signature (tmadkit/iut/CONTRACT.md)."""
    request = files.AuthRequest(file_name, content, authenticator, at, Path(pki))
    return files.authenticate(request, registry=reference_cli.registry(str(pki)), proc=sloppy_procedure())


class SloppyAuthenticator:
    name = "sloppy authenticator (example)"
    declaration = DECLARATION

    def __init__(self):
        self._reference = ReferenceImplementation()

    def authenticate(self, file_name, content, *, authenticator, at, pki) -> dict:
        return authenticate(file_name, content, authenticator=authenticator, at=at, pki=pki)

    def apply(self, actor, rule_id, facts, **kwargs) -> Verdict:
        """Rules judged from facts: right, except that a replayed counter never fails."""
        verdict = self._reference.apply(actor, rule_id, facts, **kwargs)
        if fnmatchcase(rule_id, ANTI_REPLAY) and verdict.status == FAIL:
            return Verdict(rule_id, "pass", "counters are not checked", None, verdict.clauses)
        return verdict


def factory() -> SloppyAuthenticator:
    return SloppyAuthenticator()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        sys.exit(serve.command_main(authenticate, sys.argv[2:], prog="sloppy_authenticator.py check"))
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(serve.daemon_main(authenticate, sys.argv[2:], prog="sloppy_authenticator.py serve"))
    print("usage: sloppy_authenticator.py check FILE --as DCC --at ISO --pki DIR | serve --inbox DIR --outbox DIR",
          file=sys.stderr)
    sys.exit(2)
