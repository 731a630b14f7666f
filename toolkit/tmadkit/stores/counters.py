"""The Authenticator's anti-replay Stored Counters (TMAD Clauses 5.6-5.7, Table 5.7, Table 5.9 steps 5.9.5-5.9.9).

What the TMAD requires (Table 5.9, step 5.9.5; 5.9.6-5.9.9 are the same with other names):

    "confirm either that: the Authenticator holds one or more Migration Common File Stored
    Counters for the Requesting Party Identifier (RequestingPartyID) and the MCFCCounter is
    not equal to any such Migration Common File Stored Counter created in the last 60 days;
    or the Authenticator does not hold any Migration Common File Stored Counter for this
    Requesting Party Identifier. Should this check succeed, the Authenticator shall: Create
    a Migration Common File Stored Counter that is set to the value of MCFCCounter"

Both branches of "either ... or" reduce to one test: no Stored Counter of this kind, for
this party, equal to the file's counter, created in the last 60 days.  On success the
*only* prescribed action is to create a Stored Counter: the text prescribes no deletion,
expiry or replacement, so this store never deletes.  A Stored Counter older than 60 days
stays (it is evidence) and simply stops matching; a counter may therefore be recorded
again once its earlier row has left the window, which is why the table has no UNIQUE
constraint on the counter and why serialisation (BEGIN IMMEDIATE) does the work instead.

Decisions documented here (see ``WINDOW`` and ``COUNTER_KINDS``):

* Window.  "created in the last 60 days" is read as the closed interval
  [at - 60 days, at]: a Stored Counter created *exactly* 60 days (60 x 24 h, in UTC)
  before ``at`` is inside the window and blocks the file.  Inclusive is the fail-closed
  reading: Clause 5.6 has creators' counters "sequentially increased for each file
  created", so a genuine file never repeats a counter and rejecting at the boundary
  costs nothing but a replay accepted at the boundary would be a security failure.
  Stored Counters created *after* ``at`` (clock stepped back, history replayed out of
  order) are also treated as blocking, for the same reason.
* COF.  Table 5.7 gives the Authenticator a "Commissioning Outcome File Stored Counter"
  and Clause 5.7 says it must be maintained "in the way required by Table 5.9", but
  Table 5.9 has no step for the Commissioning Outcome File (5.9.10 is "NOT USED").
  The store applies the same check and records the counter by analogy, and every COF
  decision carries ``normative=False`` and ``step=None`` with a note saying so, so a
  report can show a COF rejection as advisory rather than as a TMAD failure.

Counters are unsigned 64-bit (0 .. 2**64-1).  SQLite's INTEGER is signed 64-bit, so
counters are stored as 20-digit zero-padded decimal text: exact, readable in the
sqlite3 shell and still ordered.  Times are stored as integer microseconds since the
Unix epoch, UTC; naive datetimes are refused because "60 days" is ambiguous without one.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import InputError

COUNTER_MIN = 0
COUNTER_MAX = 2**64 - 1
WINDOW = timedelta(days=60)  # Table 5.9: "created in the last 60 days"; boundary inclusive (module doc)
WINDOW_INCLUSIVE = True
SCHEMA_VERSION = 1

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_COF_NOTE = ("TMAD gives no Table 5.9 step for the Commissioning Outcome File (5.9.10 is 'NOT USED'); "
             "Table 5.7 lists a 'Commissioning Outcome File Stored Counter' and Clause 5.7 requires it to be "
             "maintained 'in the way required by Table 5.9', so the check is applied by analogy with "
             "5.9.5-5.9.9 and the decision is advisory, not normative")


class CounterInputError(InputError, ValueError):
    """A bad argument to the store: unknown file type, empty identifier, naive datetime."""


class CounterRangeError(CounterInputError):
    """A counter outside the unsigned 64-bit range 0 .. 2**64-1."""


@dataclass(frozen=True)
class CounterKind:
    """One row of Table 5.7 as the Authenticator sees it, with its Table 5.9 step."""

    file_type: str              # file-name code of Table 10.2
    file_name: str              # Table 5.7 "File Type"
    stored_counter: str         # Table 5.7 "Counter of Authenticator"
    aliases: tuple[str, ...]    # other spellings of the stored counter (Table 5.9)
    step: str | None            # Table 5.9 step, None where the TMAD gives none
    counter_elements: tuple[str, ...]  # the file's counter element: 5.9/10.2 spelling first, then Table 10.1/10.2
    party_element: str | None   # whose Stored Counters: the identifier Table 5.9 keys them by

    @property
    def clause(self) -> str:
        if self.step is None:
            return "TMAD Table 5.7 (no Table 5.9 step)"
        return f"TMAD Table 5.9 step {self.step}"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.stored_counter, *self.aliases)


# Table 5.7 names first; Table 5.9 spells two of them differently (text-defects note, item 2)
# and the counter elements differ between 5.9/10.2 and Table 10.1 (item 1).
COUNTER_KINDS: dict[str, CounterKind] = {k.file_type: k for k in (
    CounterKind("MCF", "Migration Common File", "Migration Common File Stored Counter", (),
                "5.9.5", ("MCFCCounter", "MCFCounter"), "RequestingPartyID"),
    CounterKind("MGF", "Migration Group File", "Migration File Group Stored Counter",
                ("Migration Group File Stored Counter",),
                "5.9.6", ("MGFCCounter", "MGFCounter"), "RequestingPartyID"),
    CounterKind("MEF", "Migration Group Encrypted File", "Migration File Group Encrypted Stored Counter",
                ("Migration Group Encrypted File Stored Counter",),
                "5.9.7", ("MEFCCounter", "MEFCounter"), "RequestingPartyID"),
    CounterKind("MVF", "Migration Common Validation File", "Migration File Common Validation Stored Counter", (),
                "5.9.8", ("MVFCCounter", "MVFCounter"), "RequestingPartyID"),
    CounterKind("SCF", "S1SP Commissioning File", "S1SP Commissioning File Stored Counter", (),
                "5.9.9", ("SCFCCounter", "SCFCounter"), "S1SPID"),
    CounterKind("COF", "Commissioning Outcome File", "Commissioning Outcome File Stored Counter", (),
                None, ("COFCounter",), None),
)}


def counter_kind(name: str) -> CounterKind:
    """The kind for a file-type code, a file-type name or any spelling of its stored counter."""
    key = " ".join(str(name).split()).casefold()
    for kind in COUNTER_KINDS.values():
        if key in {s.casefold() for s in (kind.file_type, kind.file_name, *kind.names)}:
            return kind
    raise CounterInputError(f"unknown file type {name!r}; expected one of {', '.join(COUNTER_KINDS)}",
                            clause="TMAD Table 5.7")


@dataclass(frozen=True)
class StoredCounter:
    authenticator: str
    file_type: str
    party_id: str
    counter: int
    created_at: datetime  # UTC

    @property
    def kind(self) -> CounterKind:
        return COUNTER_KINDS[self.file_type]


@dataclass(frozen=True)
class CounterDecision:
    accepted: bool
    kind: CounterKind
    authenticator: str
    party_id: str
    counter: int
    at: datetime
    conflict: StoredCounter | None  # the Stored Counter that made it a replay
    reason: str

    @property
    def step(self) -> str | None:
        return self.kind.step

    @property
    def clause(self) -> str:
        return self.kind.clause

    @property
    def normative(self) -> bool:
        """False where the TMAD gives no Table 5.9 step (COF): the decision is advisory."""
        return self.kind.step is not None

    @property
    def notes(self) -> tuple[str, ...]:
        return () if self.normative else (_COF_NOTE,)


class CounterStore:
    """Stored Counters per (authenticator, file type, party) in an embedded SQLite file.

    One instance per process (a connection must not cross fork()); it is safe to share
    between threads.  Any number of processes may open the same file.
    """

    def __init__(self, path: str | Path = ":memory:", *, busy_timeout: float = 30.0,
                 window: timedelta = WINDOW, create_when_written: bool = False):
        """``create_when_written``: a database that is not there yet is created (with its
        folder) by the first write, not now, so an Authenticator that stores no counter (every
        file rejected before the anti-replay step) leaves nothing behind.  A database that is
        there is opened now either way, so one that is not usable is reported before any work."""
        self.path = str(path)
        # The window is Table 5.9's 60 days; it is a parameter because rules carry the value
        # per TMAD version rather than trusting a constant here.
        self.window = window
        self._window_us = (window.days * 86400 + window.seconds) * 1_000_000 + window.microseconds
        self._lock = threading.Lock()
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        if not (create_when_written and self._absent()):
            self._open()

    # -- public API ------------------------------------------------------------------

    def check_and_record(self, *, authenticator: str, file_type: str, party_id: str,
                         counter: int, at: datetime) -> CounterDecision:
        """Table 5.9 step for ``file_type``: reject a replay, else create the Stored Counter.

        One transaction: the check and the insert cannot be separated by another writer,
        in this or any other process.  An accepted counter is committed and synced.
        """
        kind, authenticator, party_id = self._key(authenticator, file_type, party_id)
        value = _check_counter(counter)
        at_us = _micros(at, "at")
        at_utc = _from_micros(at_us)

        def step(conn: sqlite3.Connection) -> CounterDecision:
            row = conn.execute(
                "SELECT created_us FROM stored_counter"
                " WHERE authenticator=? AND file_type=? AND party_id=? AND counter=? AND created_us >= ?"
                " ORDER BY created_us DESC, id DESC LIMIT 1",
                (authenticator, kind.file_type, party_id, _encode(value), at_us - self._window_us)).fetchone()
            element = kind.counter_elements[0]
            if row is not None:
                conflict = StoredCounter(authenticator, kind.file_type, party_id, value, _from_micros(row[0]))
                when = (f"within the {self.window.days} days before" if row[0] <= at_us
                        else "after (a later Stored Counter counts as recent) the check time")
                return CounterDecision(
                    False, kind, authenticator, party_id, value, at_utc, conflict,
                    f"{element} {value} equals the {kind.stored_counter} for {party_id!r} created "
                    f"{conflict.created_at.isoformat()}, {when} {at_utc.isoformat()} [{kind.clause}]")
            conn.execute(
                "INSERT INTO stored_counter(authenticator, file_type, party_id, counter, created_us)"
                " VALUES (?, ?, ?, ?, ?)",
                (authenticator, kind.file_type, party_id, _encode(value), at_us))
            return CounterDecision(
                True, kind, authenticator, party_id, value, at_utc, None,
                f"{element} {value} matches no {kind.stored_counter} for {party_id!r} created in the {self.window.days} days "
                f"before {at_utc.isoformat()}; Stored Counter created [{kind.clause}]")

        return self._write(step)

    def record(self, *, authenticator: str, file_type: str, party_id: str, counter: int,
               created_at: datetime) -> StoredCounter:
        """Create a Stored Counter without checking (seeding history, witnesses, migrating state)."""
        kind, authenticator, party_id = self._key(authenticator, file_type, party_id)
        value = _check_counter(counter)
        created_us = _micros(created_at, "created_at")
        self._write(lambda conn: conn.execute(
            "INSERT INTO stored_counter(authenticator, file_type, party_id, counter, created_us)"
            " VALUES (?, ?, ?, ?, ?)",
            (authenticator, kind.file_type, party_id, _encode(value), created_us)))
        return StoredCounter(authenticator, kind.file_type, party_id, value, _from_micros(created_us))

    def stored(self, *, authenticator: str, file_type: str, party_id: str) -> list[StoredCounter]:
        """Every Stored Counter held for the key, oldest first (expired ones included)."""
        kind, authenticator, party_id = self._key(authenticator, file_type, party_id)
        with self._lock:
            if self._conn is None:
                if self._absent():
                    return []           # not created yet: nothing stored
                self._open()            # created since, by another process
            rows = self._conn.execute(
                "SELECT counter, created_us FROM stored_counter"
                " WHERE authenticator=? AND file_type=? AND party_id=? ORDER BY created_us, id",
                (authenticator, kind.file_type, party_id)).fetchall()
        return [StoredCounter(authenticator, kind.file_type, party_id, int(c), _from_micros(us)) for c, us in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    def __enter__(self) -> CounterStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------

    def _absent(self) -> bool:
        return self.path != ":memory:" and not Path(self.path).exists()

    def _open(self) -> None:
        """Connect, creating the database (and its folder) if it is not there."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the sqlite3 module must not open transactions behind our
        # back; every transaction below is an explicit BEGIN IMMEDIATE ... COMMIT.
        # timeout= installs SQLite's busy handler, so a writer that finds the file locked
        # waits (up to busy_timeout) instead of failing with "database is locked".
        self._conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        # WAL: readers (stored(), reports) never block the writer and vice versa.
        self.journal_mode = self._retry_busy(
            lambda: self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        # synchronous=FULL: in WAL mode NORMAL syncs only at checkpoints, so a commit can
        # be lost on power failure *after* we told the caller "accepted"; FULL fsyncs the
        # WAL at every commit, so an accepted counter is on disk before we return.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._transaction(self._create_schema)

    @staticmethod
    def _key(authenticator: str, file_type: str, party_id: str) -> tuple[CounterKind, str, str]:
        for name, value in (("authenticator", authenticator), ("party_id", party_id)):
            if not isinstance(value, str) or not value.strip():
                raise CounterInputError(f"{name} must be a non-empty string, got {value!r}")
        return counter_kind(file_type), authenticator, party_id

    def _write(self, body):
        """Run ``body(conn)`` in one write transaction and commit it.

        BEGIN IMMEDIATE takes SQLite's write lock *before* the check reads anything, so
        no other connection (any process) can insert between our SELECT and our INSERT:
        two processes can never both see "not stored" for the same counter.  A plain
        (DEFERRED) BEGIN would let both read, and one would then fail on upgrade with a
        busy error that the busy handler does not retry.
        """
        with self._lock:
            if self._conn is None:
                self._open()            # the first write of a store made with create_when_written
            return self._transaction(body)

    def _transaction(self, body):
        """``_write`` without the lock (the caller holds it, or nobody else can see the store yet)."""
        self._retry_busy(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        try:
            result = body(self._conn)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        return result

    def _retry_busy(self, op):
        """Retry ``op`` on "database is locked" until busy_timeout has passed.

        The busy handler covers ordinary lock waits; this covers the few places where
        SQLite returns SQLITE_BUSY without consulting it (e.g. switching a brand-new file
        to WAL while another process does the same, or WAL recovery after a crash).
        """
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return op()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CounterInputError(f"counter store schema version {version} is newer than this tmadkit "
                                    f"({SCHEMA_VERSION})")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS stored_counter ("
            " id INTEGER PRIMARY KEY,"
            " authenticator TEXT NOT NULL,"
            " file_type TEXT NOT NULL,"
            " party_id TEXT NOT NULL,"
            " counter TEXT NOT NULL CHECK (length(counter) = 20),"  # unsigned 64-bit, zero-padded decimal
            " created_us INTEGER NOT NULL)")                          # microseconds since 1970-01-01 UTC
        conn.execute(
            "CREATE INDEX IF NOT EXISTS stored_counter_key"
            " ON stored_counter(authenticator, file_type, party_id, counter, created_us)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _check_counter(counter: int) -> int:
    if isinstance(counter, bool) or not isinstance(counter, int):
        raise TypeError(f"counter must be an int, got {type(counter).__name__}")
    if not COUNTER_MIN <= counter <= COUNTER_MAX:
        raise CounterRangeError(f"counter {counter} is outside the unsigned 64-bit range 0 .. 2**64-1")
    return counter


def _encode(counter: int) -> str:
    return f"{counter:020d}"


def _micros(dt: datetime, name: str) -> int:
    if not isinstance(dt, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise CounterInputError(f"{name} must be timezone-aware (the 60-day window is measured in UTC)")
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)
