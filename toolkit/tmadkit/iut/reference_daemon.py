"""The reference Authenticator behind a file exchange, for the file-exchange adapter:

    python -m tmadkit.iut.reference_daemon --inbox DIR --outbox DIR

Runs until SIGTERM.  Each request is answered by a fresh Authenticator (see reference_cli).
"""
from __future__ import annotations

import sys

from . import serve
from .reference_cli import authenticate

if __name__ == "__main__":
    sys.exit(serve.daemon_main(authenticate, prog="python -m tmadkit.iut.reference_daemon"))
