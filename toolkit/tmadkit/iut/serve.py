"""Put an `authenticate` function behind the command or file-exchange contract.

`authenticate(file_name, content, *, authenticator, at, pki) -> {"accepted", "failure"}` is the
contract's Python signature (CONTRACT.md).  command_main makes it a per-file command (the
answer on stdout; exit 0 accepted, 1 rejected); serve watches an inbox and answers in an
outbox.  The reference (reference_cli, reference_daemon) and examples/ use these, so the
separate-process adapters are exercised by a real separate process.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from .fileexchange import set_aside, write_atomically

Authenticate = Callable[..., dict]
AUTHENTICATORS = {"DCC": "DCC", "DCO": "DCO", "S1SP": "S1SP", "CP": "Commissioning Party",
                  "Commissioning Party": "Commissioning Party"}


def _answer(result: dict) -> dict:
    f = result.get("failure")
    return {"accepted": bool(result["accepted"]),
            "failure": None if not f else {k: f.get(k) for k in ("step", "rule", "clause", "message") if f.get(k)}}


def command_main(authenticate: Authenticate, argv: list[str] | None = None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description="authenticate one file; print the JSON answer")
    p.add_argument("file", type=Path)
    p.add_argument("--as", dest="authenticator", default="DCC", choices=sorted(AUTHENTICATORS))
    p.add_argument("--at", required=True, help="check time, ISO 8601 with offset")
    p.add_argument("--pki", type=Path, required=True, help="the test PKI directory (pki.yaml and certificates)")
    args = p.parse_args(argv)
    result = authenticate(args.file.name, args.file.read_bytes(), authenticator=AUTHENTICATORS[args.authenticator],
                          at=datetime.fromisoformat(args.at), pki=args.pki)
    answer = _answer(result)
    print(json.dumps(answer))
    return 0 if answer["accepted"] else 1


REQUEST = ".request.json"


def handle(authenticate: Authenticate, request_path: Path, outbox: Path) -> None:
    """Answer one request in `<id>.verdict.json`: the verdict, or `{"error": why}` when it cannot
    be judged (not JSON, its file or its PKI gone, the check itself failed), so the harness hears
    at once instead of waiting out its timeout.  The id is taken from the request's file name,
    not its content, so that even a request that is not JSON can be answered.  Raises only when
    no answer can be written: the caller sets the request aside."""
    rid = request_path.name.removesuffix(REQUEST)
    if not rid:
        # `.request.json` names no request: a reply `.verdict.json` would be no one's
        raise ValueError("the file name carries no request id, so no reply can be addressed")
    inbound = None
    try:
        env = json.loads(request_path.read_text(encoding="utf-8"))
        inbound = request_path.parent / _inbox_name(env["file"])
        answer = _answer(authenticate(inbound.name, inbound.read_bytes(), authenticator=env["as"],
                                      at=datetime.fromisoformat(env["at"]), pki=Path(env["pki"])))
    except FileNotFoundError as exc:
        if not request_path.exists():
            return      # withdrawn by the harness meanwhile: no one is waiting for an answer
        answer = _refusal(request_path, exc)
    except Exception as exc:  # noqa: BLE001 - whatever it was, it concerns this request alone
        answer = _refusal(request_path, exc)
    write_atomically(outbox / f"{rid}.verdict.json", json.dumps(answer).encode())
    request_path.unlink(missing_ok=True)     # the harness may have withdrawn it meanwhile
    if inbound is not None:
        inbound.unlink(missing_ok=True)


def _inbox_name(name) -> str:
    """The request's file, which is in the inbox: a bare file name.  A path could make the
    service read, and then delete, a file anywhere it may write."""
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise ValueError(f"'file' must name a file in the inbox, not {name!r}")
    return name


def _refusal(request_path: Path, exc: Exception) -> dict:
    why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, KeyError) else f"the request has no {exc}"
    print(f"{request_path.name}: refused ({why})", file=sys.stderr, flush=True)
    return {"error": why}


def serve(authenticate: Authenticate, inbox: Path, outbox: Path, *, poll: float = 0.02) -> None:
    """Answer requests in arrival order until SIGTERM or SIGINT.  A request that cannot be
    judged is answered with an error (handle).  One that cannot be answered at all (no id in
    its name; the outbox not writable) is set aside as `<name>.failed`, with the reason on
    stderr, and the service goes on: one bad request must not leave every later one
    unanswered, nor be tried again and again."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while not stopping:
        requests = sorted(inbox.glob(f"*{REQUEST}"), key=lambda p: p.name)
        for req in requests:
            try:
                handle(authenticate, req, outbox)
            except Exception as exc:  # noqa: BLE001 - whatever it was, it concerns that request alone
                print(f"{req.name}: not answered ({type(exc).__name__}: {exc}); set aside as {set_aside(req).name}",
                      file=sys.stderr, flush=True)
                try:
                    req.replace(set_aside(req))
                except FileNotFoundError:
                    pass    # withdrawn meanwhile
        if not requests:
            time.sleep(poll)


def daemon_main(authenticate: Authenticate, argv: list[str] | None = None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description="answer authentication requests from an inbox in an outbox")
    p.add_argument("--inbox", type=Path, required=True)
    p.add_argument("--outbox", type=Path, required=True)
    args = p.parse_args(argv)
    args.inbox.mkdir(parents=True, exist_ok=True)
    args.outbox.mkdir(parents=True, exist_ok=True)
    print(f"serving {args.inbox} -> {args.outbox}", file=sys.stderr, flush=True)
    try:
        serve(authenticate, args.inbox, args.outbox)
    except KeyboardInterrupt:
        pass
    return 0
