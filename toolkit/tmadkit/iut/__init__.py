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


def open_adapter(*, iut: str | None = None, cmd: str | None = None, inbox: str | None = None,
                 outbox: str | None = None, timeout: float | None = None, declaration: str | None = None):
    """The adapter the options name: a command, else a file exchange, else in-process.
    ValueError (with the option's name) for options that do not make sense."""
    from .contract import Declaration

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
