"""Table 5.10 run beside Table 5.9 (tmadkit.common_validation.speculative): in a worker thread
for a small file, in a worker process for a large one, met half-way by the main process.
Whatever the worker's kind and wherever the two meet, the results are those of Table 5.10 run
over the accepted tree on its own."""
from __future__ import annotations

import io
import json
import signal
import threading

import pytest

from tmadkit.authentication.received import ReceivedFile
from tmadkit.authentication.witness import example_world, witness_pki
from tmadkit.cli import main
from tmadkit.common_validation import CommonValidation, extract, speculative
from tmadkit.errors import WorkerError
from tmadkit.files.build import build
from tmadkit.world import example_dir
from tmadkit.xml import allocator, safe

from test_common_validation import AT, CASES, elec


def _flat(results) -> list:
    return [(r.chf, [(f.step, f.rule, f.detail, f.supporting_data) for f in r.failed_checks]) for r in results]


@pytest.fixture(scope="module")
def world():
    return example_world()


@pytest.fixture(scope="module")
def mcf():
    """Every case of test_common_validation, then three more nine times over: 36 installations."""
    more = [elec(), elec(esme={"mpan": "1900000000022"}),
            elec(esme={"certificates": {"critical_supplier": "supplier-ds-expired"}})]
    spec = {"type": "MCF", "MCFCounter": 3, "group_id": "AA",
            "installations": [inst for _, inst, _ in CASES] + more * 9}
    b = build(spec, witness_pki(), now=AT)
    return ReceivedFile(b.name, b.content)


@pytest.fixture(scope="module")
def expected(mcf, world):
    out = _flat(CommonValidation(world, AT).run_mcf(mcf.tree.getroot()))
    assert len(out) == 36 and sum(1 for _, f in out if f) == 8 + 18
    return out


def _speculate(mcf, world, **kw):
    return speculative.SpeculativeCommonValidation(mcf, world.path, AT, **kw)


def _results(mcf, world, *, root=None, board_main: int | None = None, **kw) -> list:
    """Speculate, then read the results as process_mcf does (over `root`, by default the file's
    own tree), and end the worker; `board_main`: what the worker is told the main process did."""
    spec = _speculate(mcf, world, **kw)
    if board_main is not None:
        spec._worker._board.main = board_main
    try:
        return spec.results(CommonValidation(world, AT), mcf.tree.getroot() if root is None else root)
    finally:
        spec.cancel()


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_worker_results_equal_the_checks_over_the_tree(mcf, world, expected, process):
    assert _flat(_results(mcf, world, process=process)) == expected


@pytest.mark.parametrize("share", [1, 5, 256])
def test_main_process_meets_the_worker_anywhere(mcf, world, expected, share, monkeypatch):
    """The main process checks from the last installation backwards, `share` at a time, until
    it meets the worker: however the work falls between them, nothing is missed or doubled."""
    monkeypatch.setattr(speculative, "_SHARE", share)
    assert _flat(_results(mcf, world, process=True)) == expected


def test_a_worker_that_stops_short_leaves_no_gap(mcf, world, expected, monkeypatch):
    """The worker is told the main process has checked from installation 3 on, but the main
    process in fact checked nothing: it checks installations 3-35 itself."""
    monkeypatch.setattr(speculative._Process, "_share", lambda self, cv, group_id, elements: (36, []))
    assert _flat(_results(mcf, world, process=True, board_main=3)) == expected


def test_worker_process_refusing_the_bytes_gives_none_and_cancel_ends_it(world):
    hostile = ReceivedFile("evil.xml", b'<!DOCTYPE x [<!ENTITY a "b">]><MigrationCommon/>')
    spec = _speculate(hostile, world, process=True)
    assert spec.results(CommonValidation(world, AT), safe.parse_bytes(b"<x/>").getroot()) is None
    spec.cancel()
    busy = _speculate(ReceivedFile("big.xml", b"<MigrationCommon>" + b" " * (64 << 20)), world, process=True)
    busy.cancel()                               # killed while it reads: nothing outlives the file
    assert busy._worker._proc.returncode == -signal.SIGKILL and not busy._worker._writer.is_alive()


def test_the_kind_of_worker_follows_the_size(mcf, world, monkeypatch):
    small = _speculate(mcf, world)
    assert isinstance(small._worker, speculative._Thread)
    small.cancel()
    monkeypatch.setattr(speculative, "PROCESS_FROM", 0)
    large = _speculate(mcf, world)
    assert isinstance(large._worker, speculative._Process)
    large.cancel()


def test_cli_with_a_worker_process_equals_the_thread(tmp_path, capsys, monkeypatch):
    from tmadkit.smki import pki

    p = pki.init(tmp_path / "pki", now=AT)
    b = build({"type": "MCF", "MCFCounter": 7, "group_id": "AA",
               "installations": [elec(), elec(esme={"mpan": "1900000000044"})] * 3}, p, now=AT)
    (tmp_path / b.name).write_bytes(b.content)
    docs = []
    for process_from in (1 << 40, 0):
        monkeypatch.setattr(speculative, "PROCESS_FROM", process_from)
        args = ["validate", str(tmp_path / b.name), "--as", "DCC", "--world", str(example_dir()),
                "--pki", str(tmp_path / "pki"), "--state", str(tmp_path / f"state{process_from}"),
                "--at", AT.isoformat(), "--json", "--emit-mvf", str(tmp_path / f"out{process_from}")]
        main(args)
        docs.append(json.loads(capsys.readouterr().out))
    assert docs[0]["installations"] == docs[1]["installations"]
    assert [len(i["failed_checks"]) for i in docs[1]["installations"]] == [0, 2] * 3
    assert not [t for t in threading.enumerate() if t.name.startswith("tmadkit-table-5.10")]


# ---------------------------------------------------------------- the stream a worker process reads


class _Pipe(io.RawIOBase):
    """A reader that gives at most 7 bytes a call and cannot seek, like a pipe under load."""

    def __init__(self, data: bytes):
        self._data, self._at = data, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 7 if size < 0 else min(size, 7)
        out, self._at = self._data[self._at:self._at + size], self._at + size
        return out


def test_stream_from_a_reader_equals_the_stream_from_bytes(mcf):
    from_bytes = list(extract.stream(mcf.content))
    from_reader = list(extract.stream(_Pipe(mcf.content)))
    assert from_reader == from_bytes and len(from_bytes) == 36


def test_stream_from_a_reader_refuses_what_the_parser_refuses(mcf):
    with pytest.raises(safe.XMLInputError) as exc:
        list(extract.stream(_Pipe(mcf.content[:len(mcf.content) // 2]), file="cut.xml"))
    assert exc.value.kind == "truncated" and exc.value.file == "cut.xml"
    with pytest.raises(safe.XMLInputError) as exc:
        list(extract.stream(_Pipe(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'), file="evil.xml"))
    assert exc.value.kind == "doctype"
    assert list(extract.stream(_Pipe(b"<Other><SMETS1Installation/></Other>"))) == []


def test_fastbins_are_turned_off_once_where_glibc_allows():
    import platform

    first = allocator.no_fastbins()
    assert allocator.no_fastbins() is first
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert first is True


def test_the_cycle_collector_is_paused_while_table_5_10_runs_and_restored_after(mcf, world, expected, monkeypatch):
    import gc

    seen = []
    check = CommonValidation.check

    def watching(self, group_id, installation, known=None):
        seen.append(gc.isenabled())
        return check(self, group_id, installation, known)

    monkeypatch.setattr(CommonValidation, "check", watching)
    for enabled in (True, False):       # restored as it was, including when it was already off
        (gc.enable if enabled else gc.disable)()
        try:
            assert _flat(_results(mcf, world, process=False)) == expected
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
    assert seen and not any(seen)


def test_a_pause_held_by_two_threads_ends_with_the_last():
    import gc

    from tmadkit.common_validation import collector

    gc.enable()
    inner_started, outer_done = threading.Event(), threading.Event()
    seen = []

    def other():
        with collector.paused():
            inner_started.set()
            outer_done.wait(10)
            seen.append(gc.isenabled())     # the main thread's pause has ended; this one still holds

    t = threading.Thread(target=other)
    with collector.paused():
        t.start()
        assert inner_started.wait(10)
    outer_done.set()
    t.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_stream_and_tree_that_disagree_are_an_error_not_a_result(mcf, world, monkeypatch):
    """The worker read the whole stream (36 installations) but the tree given has 9: the two
    parses of one file disagree, which is a fault to report, never results to merge."""
    other = build({"type": "MCF", "MCFCounter": 4, "group_id": "AA", "installations": [inst for _, inst, _ in CASES]},
                  witness_pki(), now=AT)
    root = safe.parse_bytes(other.content).getroot()
    monkeypatch.setattr(speculative._Process, "_share", lambda self, cv, group_id, elements: (9, []))
    with pytest.raises(WorkerError, match="read 36 installations .* whose tree has 9") as exc:
        _results(mcf, world, process=True, root=root)
    assert exc.value.file == mcf.name and exc.value.exit_code == 3


def test_a_failing_worker_process_is_a_clear_error_naming_the_file(mcf, tmp_path):
    spec = speculative.SpeculativeCommonValidation(mcf, tmp_path / "no-such-world.sqlite", AT, process=True)
    try:
        with pytest.raises(WorkerError, match="the Table 5.10 worker failed") as exc:
            spec.results(CommonValidation(example_world(), AT), mcf.tree.getroot())
    finally:
        spec.cancel()
    assert exc.value.file == mcf.name and "no-such-world" in str(exc.value)
