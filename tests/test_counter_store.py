"""The anti-replay Stored Counter store (TMAD Table 5.7, Table 5.9 steps 5.9.5-5.9.9).

Real SQLite files in tmp_path and real processes; nothing is mocked.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tmadkit
from tmadkit.stores.counters import (COUNTER_KINDS, COUNTER_MAX, WINDOW, CounterInputError, CounterRangeError,
                                     CounterStore, counter_kind)

AT = datetime(2020, 7, 1, 12, 0, 0, tzinfo=timezone.utc)
KEY = dict(authenticator="DCC", file_type="MCF", party_id="RP-0001")
SECOND = timedelta(seconds=1)


@pytest.fixture
def store(tmp_path):
    with CounterStore(tmp_path / "counters.db") as s:
        yield s


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    toolkit = str(Path(tmadkit.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (toolkit, env.get("PYTHONPATH")) if p)
    return env


# -- accept / reject ---------------------------------------------------------------------

def test_first_counter_accepted_and_recorded(store):
    d = store.check_and_record(**KEY, counter=1, at=AT)
    assert d.accepted and d.conflict is None
    assert d.step == "5.9.5" and d.normative and d.clause == "TMAD Table 5.9 step 5.9.5"
    [row] = store.stored(**KEY)
    assert (row.counter, row.created_at, row.kind.stored_counter) == (1, AT, "Migration Common File Stored Counter")


def test_replay_rejected_and_decision_names_the_stored_counter(store):
    store.check_and_record(**KEY, counter=7, at=AT)
    later = AT + timedelta(days=3)
    d = store.check_and_record(**KEY, counter=7, at=later)
    assert not d.accepted
    assert d.conflict is not None and d.conflict.counter == 7 and d.conflict.created_at == AT
    assert "5.9.5" in d.reason and "MCFCCounter 7" in d.reason and AT.isoformat() in d.reason
    assert len(store.stored(**KEY)) == 1  # a rejected file creates nothing


def test_distinct_counters_all_accepted(store):
    assert all(store.check_and_record(**KEY, counter=n, at=AT + n * SECOND).accepted for n in range(20))
    assert [s.counter for s in store.stored(**KEY)] == list(range(20))


@pytest.mark.parametrize("age, accepted", [
    (WINDOW - SECOND, False),                      # inside the last 60 days
    (WINDOW, False),                               # exactly 60 days: inclusive (module doc)
    (WINDOW - timedelta(microseconds=1), False),
    (WINDOW + timedelta(microseconds=1), True),
    (WINDOW + SECOND, True),                       # older than 60 days: no longer blocks
])
def test_sixty_day_window_boundary(store, age, accepted):
    store.record(**KEY, counter=42, created_at=AT - age)
    d = store.check_and_record(**KEY, counter=42, at=AT)
    assert d.accepted is accepted
    # The TMAD prescribes creating a Stored Counter and nothing else: the old one is kept.
    assert [s.created_at for s in store.stored(**KEY)] == [AT - age] + ([AT] if accepted else [])


def test_window_is_exactly_sixty_days_of_24_hours_in_utc(store):
    # 60 days before 2020-05-01 crosses the UK's March clock change; the window is 60 x 24 h.
    bst = timezone(timedelta(hours=1))
    at = datetime(2020, 5, 1, 12, 0, tzinfo=bst)
    store.record(**KEY, counter=5, created_at=datetime(2020, 3, 2, 11, 0, tzinfo=timezone.utc))  # = at - 60 d
    assert not store.check_and_record(**KEY, counter=5, at=at).accepted
    assert store.check_and_record(**KEY, counter=5, at=at + SECOND).accepted


def test_stored_counter_created_after_check_time_still_blocks(store):
    store.record(**KEY, counter=9, created_at=AT + timedelta(hours=1))
    d = store.check_and_record(**KEY, counter=9, at=AT)
    assert not d.accepted and "later Stored Counter" in d.reason


def test_counter_reusable_after_window_then_blocked_again(store):
    assert store.check_and_record(**KEY, counter=3, at=AT).accepted
    second = AT + WINDOW + SECOND
    assert store.check_and_record(**KEY, counter=3, at=second).accepted
    d = store.check_and_record(**KEY, counter=3, at=second + SECOND)
    assert not d.accepted and d.conflict.created_at == second  # the newest match is reported


@pytest.mark.parametrize("change", [
    dict(party_id="RP-0002"), dict(file_type="MGF"), dict(authenticator="S1SP-A"),
])
def test_party_file_type_and_authenticator_are_independent(store, change):
    store.check_and_record(**KEY, counter=11, at=AT)
    other = {**KEY, **change}
    assert store.check_and_record(**other, counter=11, at=AT).accepted
    assert not store.check_and_record(**other, counter=11, at=AT + SECOND).accepted
    assert not store.check_and_record(**KEY, counter=11, at=AT + SECOND).accepted


# -- counter range -------------------------------------------------------------------------

def test_unsigned_64_bit_extremes_round_trip_and_persist(tmp_path):
    path = tmp_path / "u64.db"
    values = [0, 1, 2**63 - 1, 2**63, 2**64 - 2, COUNTER_MAX]
    with CounterStore(path) as s:
        assert all(s.check_and_record(**KEY, counter=v, at=AT).accepted for v in values)
    with CounterStore(path) as s:
        assert sorted(c.counter for c in s.stored(**KEY)) == values
        for v in values:
            d = s.check_and_record(**KEY, counter=v, at=AT + SECOND)
            assert not d.accepted and d.conflict.counter == v
    assert COUNTER_MAX == 18446744073709551615


@pytest.mark.parametrize("bad", [-1, -(2**63), 2**64, 2**64 + 1, 10**30])
def test_out_of_range_counter_rejected_with_clear_error(store, bad):
    with pytest.raises(CounterRangeError, match=r"outside the unsigned 64-bit range 0 \.\. 2\*\*64-1"):
        store.check_and_record(**KEY, counter=bad, at=AT)
    with pytest.raises(ValueError):
        store.record(**KEY, counter=bad, created_at=AT)
    assert store.stored(**KEY) == []


@pytest.mark.parametrize("bad", [True, 1.0, "1", None])
def test_non_integer_counter_is_a_type_error(store, bad):
    with pytest.raises(TypeError, match="counter must be an int"):
        store.check_and_record(**KEY, counter=bad, at=AT)


def test_naive_datetime_refused(store):
    with pytest.raises(CounterInputError, match="timezone-aware"):
        store.check_and_record(**KEY, counter=1, at=AT.replace(tzinfo=None))


@pytest.mark.parametrize("change, match", [
    (dict(file_type="XYZ"), "unknown file type"),
    (dict(party_id=""), "party_id"),
    (dict(authenticator=" "), "authenticator"),
])
def test_bad_key_refused(store, change, match):
    with pytest.raises(CounterInputError, match=match):
        store.check_and_record(**{**KEY, **change}, counter=1, at=AT)


# -- Table 5.7 / 5.9 mapping -------------------------------------------------------------

def test_file_types_map_to_table_5_7_names_and_table_5_9_steps():
    steps = {k: v.step for k, v in COUNTER_KINDS.items()}
    assert steps == {"MCF": "5.9.5", "MGF": "5.9.6", "MEF": "5.9.7", "MVF": "5.9.8", "SCF": "5.9.9", "COF": None}
    assert COUNTER_KINDS["SCF"].party_element == "S1SPID"
    assert {COUNTER_KINDS[k].party_element for k in ("MCF", "MGF", "MEF", "MVF")} == {"RequestingPartyID"}
    # Both spellings the text uses resolve to the same kind (text-defects note, items 1-2).
    assert counter_kind("Migration File Group Stored Counter") is COUNTER_KINDS["MGF"]          # Table 5.7
    assert counter_kind("Migration Group File Stored Counter") is COUNTER_KINDS["MGF"]          # Table 5.9
    assert counter_kind("Migration File Group Encrypted Stored Counter") is COUNTER_KINDS["MEF"]
    assert counter_kind("Migration Group Encrypted File Stored Counter") is COUNTER_KINDS["MEF"]
    assert counter_kind("mcf") is COUNTER_KINDS["MCF"]
    assert COUNTER_KINDS["SCF"].counter_elements == ("SCFCCounter", "SCFCounter")


def test_alias_names_share_one_set_of_stored_counters(store):
    key = dict(authenticator="S1SP-A", party_id="RP-0001")
    store.check_and_record(**key, file_type="Migration Group File Stored Counter", counter=1, at=AT)
    assert not store.check_and_record(**key, file_type="MGF", counter=1, at=AT + SECOND).accepted
    assert len(store.stored(**key, file_type="Migration File Group Stored Counter")) == 1


def test_cof_recorded_but_flagged_as_having_no_table_5_9_step(store):
    key = dict(authenticator="RP-0001", file_type="COF", party_id="CP")
    d = store.check_and_record(**key, counter=1, at=AT)
    assert d.accepted and d.step is None and not d.normative
    assert "no Table 5.9 step" in d.notes[0] and d.clause == "TMAD Table 5.7 (no Table 5.9 step)"
    assert [s.counter for s in store.stored(**key)] == [1]
    replay = store.check_and_record(**key, counter=1, at=AT + SECOND)
    assert not replay.accepted and not replay.normative  # advisory: by analogy, not a TMAD step


# -- storage and locking -----------------------------------------------------------------

def test_wal_and_full_sync_and_durable_across_reopen(tmp_path):
    path = tmp_path / "c.db"
    with CounterStore(path) as s:
        assert s.journal_mode == "wal"
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        s.check_and_record(**KEY, counter=99, at=AT)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT counter FROM stored_counter").fetchall() == [("00000000000000000099",)]
    raw.close()
    with CounterStore(path) as s:
        assert not s.check_and_record(**KEY, counter=99, at=AT + SECOND).accepted


def test_create_when_written_makes_nothing_until_a_counter_is_stored(tmp_path):
    path = tmp_path / "state" / "c.db"
    with CounterStore(path, create_when_written=True) as s:
        assert s.stored(**KEY) == [] and not (tmp_path / "state").exists()
        with pytest.raises(CounterRangeError):
            s.check_and_record(**KEY, counter=-1, at=AT)
        assert not (tmp_path / "state").exists()
        assert s.check_and_record(**KEY, counter=7, at=AT).accepted
    with CounterStore(path, create_when_written=True) as s:       # there now: opened, and remembered
        assert [c.counter for c in s.stored(**KEY)] == [7]
        assert not s.check_and_record(**KEY, counter=7, at=AT + SECOND).accepted
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):                    # an unusable one is reported at once
        CounterStore(path, create_when_written=True)


def test_waits_for_a_locked_database_instead_of_failing(tmp_path):
    path = tmp_path / "c.db"
    with CounterStore(path, busy_timeout=10) as s:
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock ...
        release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))  # ... for 0.3 s
        release.start()
        try:
            t0 = time.monotonic()
            assert s.check_and_record(**KEY, counter=1, at=AT).accepted
            assert time.monotonic() - t0 >= 0.2
        finally:
            release.join()
            holder.close()


def test_ten_thousand_calls_complete(tmp_path):
    with CounterStore(tmp_path / "c.db") as s:
        parties = [f"RP-{i:04d}" for i in range(4)]
        results = [s.check_and_record(authenticator="DCC", file_type="MGF", party_id=parties[n % 4],
                                      counter=n // 4, at=AT + n * SECOND) for n in range(10_000)]
        assert all(d.accepted for d in results)
        assert sum(len(s.stored(authenticator="DCC", file_type="MGF", party_id=p)) for p in parties) == 10_000


# -- concurrency: two processes, one store --------------------------------------------------

RACER = r"""
import json, sys, time
from datetime import datetime
from tmadkit.stores.counters import CounterStore
path, n = sys.argv[1], int(sys.argv[2])
at = datetime.fromisoformat(sys.argv[3])
print("READY", flush=True)                 # imports done ...
sys.stdin.readline()                       # ... wait for the start line, so both racers begin together
store = CounterStore(path)                 # both also open (and create) the file concurrently
accepted = []
for c in range(n):
    if store.check_and_record(authenticator="DCC", file_type="MCF", party_id="RP-0001", counter=c, at=at).accepted:
        accepted.append(c)
    # Stand-in for the file's other checks: without a pause outside the lock, one racer drains
    # the counters while the other sleeps in SQLite's busy handler, and there is little contention.
    time.sleep(0.0002)
print(json.dumps(accepted))
"""


def test_two_processes_never_both_accept_a_counter(tmp_path):
    path, n = tmp_path / "race.db", 1000
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(path), str(n), AT.isoformat()],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=child_env()) for _ in range(2)]
    for p in racers:
        assert p.stdout.readline() == "READY\n"
    for p in racers:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in racers:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(set(json.loads(out)))
    a, b = results
    assert a | b == set(range(n))
    assert a & b == set()
    with CounterStore(path) as s:
        assert sorted(c.counter for c in s.stored(**KEY)) == list(range(n))


# -- crash: SIGKILL right after "ACCEPTED n" ------------------------------------------------

ACCEPTOR = r"""
import sys
from datetime import datetime
from tmadkit.stores.counters import CounterStore
path, base = sys.argv[1], int(sys.argv[2])
at = datetime.fromisoformat(sys.argv[3])
store = CounterStore(path)
n = base
while True:                                # keep writing, so the kill lands mid-transaction
    if store.check_and_record(authenticator="DCC", file_type="MCF", party_id="RP-0001", counter=n, at=at).accepted:
        print(f"ACCEPTED {n}", flush=True)
    n += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_accepted_counters_survive_sigkill(tmp_path):
    path, reported = tmp_path / "crash.db", []
    for i in range(50):
        child = subprocess.Popen([sys.executable, "-c", ACCEPTOR, str(path), str(i * 1_000_000), AT.isoformat()],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            line = child.stdout.readline()
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=30)
            err = child.stderr.read()
            child.stdout.close()
            child.stderr.close()
        assert line.startswith("ACCEPTED "), (line, err)
        assert child.returncode == -signal.SIGKILL
        reported.append(int(line.split()[1]))
    assert len(set(reported)) == 50
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with CounterStore(path) as s:
        stored = {c.counter for c in s.stored(**KEY)}
        assert set(reported) <= stored
        for n in reported:
            assert not s.check_and_record(**KEY, counter=n, at=AT + SECOND).accepted
