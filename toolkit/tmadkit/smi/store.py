"""The Smart Metering Inventory in embedded SQLite: Devices, statuses, Associations, history.

One transaction per event (`with store.transaction()`), so a crash leaves the SMI as it was
before the event or after it, never half-way.  ":memory:" serves tests and the reference run.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    prior_status TEXT,            -- kept while in a status that remembers the one before
    mpxn TEXT,
    added_by TEXT,
    added_at TEXT NOT NULL,
    status_since TEXT NOT NULL,
    smets1 INTEGER NOT NULL DEFAULT 0  -- added as (or purported to be) a SMETS1 Device: AC 3.9 and 3.10
                                       -- hold for every later event, whether or not it says so again
);
CREATE TABLE IF NOT EXISTS association (
    a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b), CHECK (a < b)
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, device TEXT NOT NULL, event TEXT NOT NULL,
    sender TEXT, result TEXT NOT NULL, from_status TEXT, to_status TEXT, rule TEXT, clauses TEXT
);
CREATE TABLE IF NOT EXISTS alert (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, device TEXT NOT NULL, code TEXT NOT NULL,
    recipient TEXT
);
"""


@dataclass
class Device:
    id: str
    type: str
    status: str
    prior_status: str | None
    mpxn: str | None
    added_by: str | None
    added_at: str
    status_since: str
    smets1: bool = False


_COLUMNS = "id, type, status, prior_status, mpxn, added_by, added_at, status_since, smets1"


def _device(row) -> Device:
    return Device(*row[:-1], smets1=bool(row[-1]))


class Store:
    def __init__(self, path: str = ":memory:"):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self.conn.executescript(SCHEMA)
        # an inventory written before the smets1 column gets it (every Device then recorded as not SMETS1)
        if "smets1" not in {r[1] for r in self.conn.execute("PRAGMA table_info(device)")}:
            self.conn.execute("ALTER TABLE device ADD COLUMN smets1 INTEGER NOT NULL DEFAULT 0")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    # --- devices ---------------------------------------------------------------------------
    def get(self, device_id: str) -> Device | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM device WHERE id = ?", (device_id,)).fetchone()
        return _device(row) if row else None

    def devices(self) -> list[Device]:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM device ORDER BY id").fetchall()
        return [_device(r) for r in rows]

    def put(self, d: Device) -> None:
        self.conn.execute(
            f"INSERT INTO device ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "type=excluded.type, status=excluded.status, prior_status=excluded.prior_status, mpxn=excluded.mpxn, "
            "added_by=excluded.added_by, added_at=excluded.added_at, status_since=excluded.status_since, "
            "smets1=excluded.smets1",
            (d.id, d.type, d.status, d.prior_status, d.mpxn, d.added_by, d.added_at, d.status_since, int(d.smets1)))

    def delete(self, device_id: str) -> None:
        self.conn.execute("DELETE FROM association WHERE a = ? OR b = ?", (device_id, device_id))
        self.conn.execute("DELETE FROM device WHERE id = ?", (device_id,))

    # --- associations ------------------------------------------------------------------------
    def associate(self, a: str, b: str) -> None:
        if a != b:
            self.conn.execute("INSERT OR IGNORE INTO association (a, b) VALUES (?, ?)", tuple(sorted((a, b))))

    def dissociate(self, a: str, b: str) -> None:
        self.conn.execute("DELETE FROM association WHERE a = ? AND b = ?", tuple(sorted((a, b))))

    def dissociate_all(self, a: str) -> None:
        self.conn.execute("DELETE FROM association WHERE a = ? OR b = ?", (a, a))

    def associated(self, device_id: str) -> list[str]:
        rows = self.conn.execute("SELECT b FROM association WHERE a = ? UNION SELECT a FROM association WHERE b = ? "
                                 "ORDER BY 1", (device_id, device_id)).fetchall()
        return [r[0] for r in rows]

    # --- records ------------------------------------------------------------------------------
    def record(self, at: str, device: str, event: str, sender: str | None, result: str,
               from_status: str | None, to_status: str | None, rule: str | None, clauses: list[str]) -> None:
        self.conn.execute("INSERT INTO history (at, device, event, sender, result, from_status, to_status, rule, "
                          "clauses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (at, device, event, sender, result, from_status, to_status, rule, " ".join(clauses)))

    def alert(self, at: str, device: str, code: str, recipient: str | None) -> None:
        self.conn.execute("INSERT INTO alert (at, device, code, recipient) VALUES (?, ?, ?, ?)",
                          (at, device, code, recipient))

    def alerts(self) -> list[tuple[str, str, str, str | None]]:
        return self.conn.execute("SELECT at, device, code, recipient FROM alert ORDER BY seq").fetchall()

    def history(self) -> list[tuple]:
        return self.conn.execute("SELECT at, device, event, sender, result, from_status, to_status, rule, clauses "
                                 "FROM history ORDER BY seq").fetchall()
