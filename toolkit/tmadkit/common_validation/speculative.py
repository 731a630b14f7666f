"""Table 5.10 run beside Table 5.9; its results are read only if the file is accepted.

Authenticating a large MCF is mostly C that releases the GIL: libxml2's parse and XSD
validation (5.9.1) and xmlsec's canonicalisation and digest of the whole document (5.9.2),
about 18 s of a 400 MB file.  The Table 5.10 checks are Python.  So while the main thread
parses and authenticates, a worker thread streams the same bytes (the hardened parser's
options, one installation in memory at a time: tmadkit.xml.safe.stream_children) through
extraction and the checks, and a second core is used instead of waiting.  Streaming rather
than walking the main thread's tree also means the worker starts at once, not after the
parse, and reads each installation while it is still in the CPU cache.

What the DCC does is unchanged.  Clause 5.10 applies "upon accepting" the MCF: the worker's
results are read only after Table 5.9 accepted the file, and otherwise the worker is told to
stop (it looks between blocks of installations) and its results are dropped.  The accepted
file's tree and the worker's stream are the same bytes parsed by the same libxml2 with the
same options.  The worker writes no counter, no file and no log, uses its own read-only
connection to the World (SQLite connections are not shared between threads), and its
extraction and checks never raise on hostile content (they report it as FailedChecks, which
nobody sees for a rejected file).
"""
from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from ..authentication.received import ReceivedFile
from ..xml.safe import XMLInputError
from .run import Cancelled, CommonValidation, InstallationResult


class SpeculativeCommonValidation:
    """Streams a received file through Table 5.10 in a worker thread; `results()` waits for it."""

    def __init__(self, received: ReceivedFile, world_path: Path, at: datetime, *, version: str | None = None):
        self._data = received.content
        self._file = received.name
        self._world_path = Path(world_path)
        self._at = at
        self._version = version
        self._stop = threading.Event()
        self._results: list[InstallationResult] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="tmadkit-table-5.10", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        from ..world import World

        try:
            world = World(self._world_path)
            cv = CommonValidation(world, self._at, version=self._version)
            try:
                self._results = list(cv.run_stream(self._data, file=self._file, stop=self._stop))
            finally:
                cv.world.close()
                world.close()
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of results()
            self._error = exc

    def results(self) -> list[InstallationResult] | None:
        """The checks' results, in MCF order (waits for the worker; re-raises its error).
        None if the stream met bytes it refused, which the accepted file cannot contain: the
        caller then runs the checks over the accepted tree instead."""
        self._thread.join()
        if isinstance(self._error, XMLInputError):
            return None
        if self._error is not None:
            raise self._error
        if self._results is None:
            raise Cancelled("Table 5.10 was cancelled before it finished")
        return self._results

    def cancel(self) -> None:
        """Stop the worker (between blocks) and wait for it: nothing outlives the file."""
        self._stop.set()
        self._thread.join()
