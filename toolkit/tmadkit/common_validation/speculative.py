"""Table 5.10 run beside Table 5.9; its results are read only if the file is accepted.

Authenticating a large MCF is mostly C: libxml2's parse and XSD validation (5.9.1) and
xmlsec's canonicalisation and digest of the whole document (5.9.2), about 18 s of a 400 MB
file.  The Table 5.10 checks are Python.  So while the main process parses and
authenticates, a worker streams the same bytes (the hardened parser's options, one
installation in memory at a time: tmadkit.xml.safe.stream_children) through extraction and
the checks, and a second core is used instead of waiting.  Streaming rather than walking the
main tree means the worker starts at once, not after the parse.

The worker is a child process for a large file and a thread for a small one.  A thread
shares the GIL with the main thread's Python (Table 10.1, the header, the MVF), which cost a
400 MB file about 5 s of waiting; a process shares nothing but costs a quarter of a second
and about 100 MB of memory (an interpreter, tmadkit, the rules), which only a large file
repays (PROCESS_FROM).  Either way
the worker is given the very bytes the main process parses: the process reads them from a
pipe the main process writes the received file's snapshot into (never the file on disk,
which could have changed since), so it holds only the installation it is checking.

A worker process is also met half-way.  The main process finishes Table 5.9 a few seconds
before the worker finishes Table 5.10, and then checks installations itself, from the last
one backwards over the accepted tree, until it meets the worker (a _Board says how far each
has got).  Each may read the other's position late; that only means a few installations are
checked twice, never that one is left out: the worker reports exactly how many it checked,
and the main process checks any gap itself.

What the DCC does is unchanged.  Clause 5.10 applies "upon accepting" the MCF: the worker's
results are read only after Table 5.9 accepted the file, and otherwise the worker is stopped
(a thread looks between blocks of installations; a process is killed) and its results are
dropped.  The accepted file's tree and the worker's stream are the same bytes parsed by the
same libxml2 with the same options.  The worker writes no counter, no file and no log, opens
its own read-only connection to the World, and its extraction and checks never raise on
hostile content (they report it as FailedChecks, which nobody sees for a rejected file).
"""
from __future__ import annotations

import json
import mmap
import os
import struct
import subprocess
import sys
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from ..authentication.received import ReceivedFile
from ..errors import WorkerError
from ..xml.safe import XMLInputError
from . import collector, extract
from .run import Cancelled, CommonValidation, FailedCheck, InstallationResult

PROCESS_FROM = 64 << 20     # bytes of MCF from which the worker is a process, not a thread
_PIPE_CHUNK = 1 << 20
_REFUSED = 3                # the worker's exit status when its stream met bytes it refused
_SHARE = 256                # installations the main process checks between looks at the board

# Peak RSS (MB) of each worker process this process ran: its memory is not in this process's
# own peak, and tmadkit.bench.common_validation adds it to the figure it reports.
WORKER_PEAKS_MB: list[float] = []


class SpeculativeCommonValidation:
    """Streams a received file through Table 5.10 in a worker; `results()` waits for it.
    `process`: True or False to choose the worker's kind, None to choose by size."""

    def __init__(self, received: ReceivedFile, world_path: Path, at: datetime, *, version: str | None = None,
                 process: bool | None = None):
        if process is None:
            process = len(received.content) >= PROCESS_FROM
        self._worker = (_Process if process else _Thread)(received.content, received.name, Path(world_path), at,
                                                          version)

    def results(self, cv: CommonValidation, root) -> list[InstallationResult] | None:
        """The checks' results, in MCF order (waits for the worker; re-raises its error).
        `root`: the accepted file's root element, over which `cv` checks installations the
        worker has not got to yet (a process worker only).  None if the stream met bytes it
        refused, which the accepted file cannot contain: the caller then runs the checks over
        the accepted tree instead."""
        return self._worker.results(cv, root)

    def cancel(self) -> None:
        """Stop the worker and wait for it: nothing outlives the file."""
        self._worker.cancel()


class _Thread:
    def __init__(self, data: bytes, file: str, world_path: Path, at: datetime, version: str | None):
        self._args = (data, file, world_path, at, version)
        self._stop = threading.Event()
        self._results: list[InstallationResult] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="tmadkit-table-5.10", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            self._results, _ = _check_stream(*self._args, stop=self._stop)
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of results()
            self._error = exc
        finally:
            self._args = None    # the received bytes: not kept alive by a finished worker

    def results(self, cv: CommonValidation, root) -> list[InstallationResult] | None:
        # No help from the main thread: it would only take the GIL from the worker.
        self._thread.join()
        if isinstance(self._error, XMLInputError):
            return None
        if self._error is not None:
            raise self._error
        if self._results is None:
            raise Cancelled("Table 5.10 was cancelled before it finished")
        return self._results

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()


class _Count:
    """One signed 8-byte count at a fixed place in a _Board's map."""

    def __init__(self, offset: int):
        self._offset = offset

    def __get__(self, board: "_Board", owner=None) -> int:
        return struct.unpack_from("=q", board._map, self._offset)[0]

    def __set__(self, board: "_Board", n: int) -> None:
        struct.pack_into("=q", board._map, self._offset, n)


class _Board:
    """Two counts a worker process and the main process share through a 16-byte file both map:
    how many installations the worker has checked from the first (it writes), and from which
    installation on the main process has checked them to the last (it writes).  Neither
    relies on reading the other's count on time, or whole: a late or torn read only makes one
    side check installations the other also checks, or stop early and leave a gap, which the
    main process fills from the worker's exact count in its reply."""

    SIZE = 16
    worker = _Count(0)
    main = _Count(8)

    def __init__(self, fd: int, *, create: bool = False):
        if create:
            os.ftruncate(fd, self.SIZE)
        self._map = mmap.mmap(fd, self.SIZE)
        if create:
            self.worker, self.main = 0, 1 << 62

    def close(self) -> None:
        self._map.close()


class _Process:
    def __init__(self, data: bytes, file: str, world_path: Path, at: datetime, version: str | None):
        import tmadkit

        env = dict(os.environ)     # the child imports this tmadkit, wherever it was imported from
        package_parent = str(Path(tmadkit.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        self._file = file
        self._stderr = tempfile.TemporaryFile()    # a file, not a pipe: a chatty child never blocks
        self._board_file = tempfile.TemporaryFile()
        self._board = _Board(self._board_file.fileno(), create=True)
        fd = self._board_file.fileno()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(world_path), at.isoformat(), file, version or "", str(fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env, pass_fds=(fd,))
        self._writer = threading.Thread(target=self._feed, args=(memoryview(data),), name="tmadkit-table-5.10-feed",
                                        daemon=True)
        self._writer.start()
        self._done: list[InstallationResult] | None = None

    def _feed(self, view: memoryview) -> None:
        fd = self._proc.stdin.fileno()
        try:
            while view:
                view = view[os.write(fd, view[:_PIPE_CHUNK]):]   # releases the GIL while the pipe is full
        except OSError:
            pass             # the worker stopped reading (it met the main process, refused bytes, or was killed)
        finally:
            self._proc.stdin.close()

    def _share(self, cv: CommonValidation, group_id: str | None, elements: list) -> tuple[int, list[InstallationResult]]:
        """Check installations from the last backwards until the worker's count reaches them:
        (the first installation checked here, the results from it to the last)."""
        start, chunks = len(elements), []
        while self._proc.poll() is None:
            done = self._board.worker
            if start <= done:
                break
            low = max(start - _SHARE, done)
            chunks.append(list(cv.run_keyed(group_id, map(extract.keyed, elements[low:start]))))
            start = self._board.main = low
        return start, [r for chunk in reversed(chunks) for r in chunk]

    def results(self, cv: CommonValidation, root) -> list[InstallationResult] | None:
        if self._done is not None:
            return self._done
        elements = list(extract.installations(root))
        group_id = extract.group_id_of(root)
        start, mine = self._share(cv, group_id, elements)
        reply = self._proc.stdout.read()
        status = self._proc.wait()
        self._writer.join()
        if status == _REFUSED:
            return None
        if status != 0:
            self._stderr.seek(0)
            raise WorkerError(f"the Table 5.10 worker failed (exit status {status}): "
                              f"{self._stderr.read().decode('utf-8', 'replace').strip()[-2000:]}", file=self._file)
        doc = json.loads(reply)
        if doc.get("peak_rss_mb") is not None:
            WORKER_PEAKS_MB.append(doc["peak_rss_mb"])
        theirs = _decode(doc)
        if doc["to_the_end"] and len(theirs) != len(elements):
            raise WorkerError(f"the Table 5.10 worker read {len(theirs)} installations in the stream of a file "
                              f"whose tree has {len(elements)}: the same bytes parsed twice disagree", file=self._file)
        if len(theirs) < start:         # the worker stopped short of what was checked here
            theirs += cv.run_keyed(group_id, map(extract.keyed, elements[len(theirs):start]))
        self._done = theirs[:start] + mine
        return self._done

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._writer.join()
        self._proc.stdout.close()
        self._stderr.close()
        self._board.close()
        self._board_file.close()


def _check_stream(source, file: str, world_path: Path, at: datetime, version: str | None, *,
                  stop: threading.Event | None = None,
                  board: _Board | None = None) -> tuple[list[InstallationResult], bool]:
    """Table 5.10 over the stream, stopping where the main process has checked the rest (board):
    the results, and whether they go to the end of the file."""
    from ..world import World

    world = World(world_path)
    cv = CommonValidation(world, at, version=version)
    try:
        with collector.paused():
            if board is None:
                return list(cv.run_stream(source, file=file, stop=stop)), True
            out: list[InstallationResult] = []
            for result in cv.run_stream(source, file=file, stop=stop):
                out.append(result)
                board.worker = len(out)
                if len(out) >= board.main:
                    return out, False
            return out, True
    finally:
        cv.world.close()
        world.close()


def _encode(results: list[InstallationResult]) -> dict:
    # CHFs as one list and only the failures, indexed: 100,000 installations of which a few fail
    # cross the pipe in a few megabytes and decode in milliseconds.
    return {"chf": [r.chf for r in results],
            "failed": [[i, f.step, f.rule, f.detail, f.supporting_data]
                       for i, r in enumerate(results) for f in r.failed_checks]}


def _decode(doc: dict) -> list[InstallationResult]:
    out = [InstallationResult(chf) for chf in doc["chf"]]
    for i, step, rule, detail, supporting_data in doc["failed"]:
        out[i].failed_checks.append(FailedCheck(step, rule, detail, supporting_data))
    return out


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str]) -> int:
    """The worker process: WORLD AT FILE VERSION BOARD_FD, the MCF's bytes on stdin, the results
    (of the installations from the first to where it met the main process) as JSON on stdout;
    exit status 3 if the bytes were refused."""
    reply = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)            # whatever else is printed must not mix with the results
    world_path, at, file, version, board_fd = argv
    board = _Board(int(board_fd))
    try:
        results, to_the_end = _check_stream(sys.stdin.buffer, file, Path(world_path), datetime.fromisoformat(at),
                                            version or None, board=board)
    except XMLInputError:
        return _REFUSED
    finally:
        board.close()
    doc = {**_encode(results), "to_the_end": to_the_end}
    try:
        doc["peak_rss_mb"] = _peak_rss_mb()
    except OSError:
        doc["peak_rss_mb"] = None
    reply.write(json.dumps(doc))     # the C encoder: json.dump encodes in Python
    reply.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
