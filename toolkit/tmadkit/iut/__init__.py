"""Drive an implementation under test through the contract (contract.py, CONTRACT.md).

Three adapters behind one interface: in-process Python (inprocess.py), a command run per
file (command.py) and a file exchange through inbox and outbox directories (fileexchange.py).
reference_cli.py and reference_daemon.py wrap the reference implementation as a separate
process for the last two; serve.py is the loop they (and examples/) share.
"""
from __future__ import annotations

from pathlib import Path

DEFAULT_IUT = "tmadkit.reference:factory"
DEFAULT_TIMEOUT = 30.0


FLAGS = {"iut": "--iut", "cmd": "--iut-cmd", "inbox": "--iut-inbox", "outbox": "--iut-outbox", "timeout": "--timeout"}


def conflict(*, iut=None, cmd=None, inbox=None, outbox=None, timeout=None,
             flags: dict[str, str] = FLAGS) -> str | None:
    """Why the options for the implementation under test do not go together, or None.  Each
    adapter is one way of naming it (a file exchange is the inbox and outbox together); given
    two, neither may silently win, or the report would be about another system than the one the
    caller meant.  A timeout applies to a command or a file exchange: an in-process
    implementation runs inside tmadkit's own process, where nothing can stop it, so a timeout
    given for one would be silently ignored."""
    given = [flags[k] for k, v in (("iut", iut), ("cmd", cmd)) if v]
    if inbox or outbox:
        given.append(flags["inbox"] if inbox else flags["outbox"])
    if len(given) >= 2:
        return f"{given[0]} and {given[1]} both name the implementation under test: give one of them"
    if timeout is not None and not (cmd or inbox or outbox):
        return (f"{flags['timeout']} applies to {flags['cmd']} and a file exchange; an in-process implementation "
                f"({flags['iut']}, or the reference) runs in tmadkit's own process and is not timed")
    return None


def open_adapter(*, iut: str | None = None, cmd: str | None = None, inbox: str | None = None,
                 outbox: str | None = None, timeout: float | None = None, declaration: str | None = None,
                 flags: dict[str, str] = FLAGS):
    """The adapter the options name: in-process, a command or a file exchange (in-process, the
    reference, when none is named).  ValueError (with the option's name, as `flags` spell them)
    for options that do not make sense."""
    from .contract import Declaration

    why = conflict(iut=iut, cmd=cmd, inbox=inbox, outbox=outbox, timeout=timeout, flags=flags)
    if why:
        raise ValueError(why)
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    decl = None
    if declaration:
        decl = Declaration.read(Path(declaration), default_name="the implementation")
    if cmd:
        from .command import CommandAdapter

        return CommandAdapter(cmd, timeout=timeout, declaration=decl)
    if inbox or outbox:
        if not (inbox and outbox):
            raise ValueError("a file exchange needs both an inbox and an outbox")
        from .fileexchange import FileExchangeAdapter

        return FileExchangeAdapter(Path(inbox), Path(outbox), timeout=timeout, declaration=decl)
    from .inprocess import InProcessAdapter, load_factory

    spec = iut or DEFAULT_IUT
    return InProcessAdapter(load_factory(spec)(), spec, decl)
