"""Python's cyclic garbage collector, paused while an MCF is processed.

Table 5.10 makes millions of small objects (installation facts, verdicts, results) that
reference counting frees; cycles are a few per block of installations (the memoising
wrappers of the World).  With the collector running, its full passes over the growing heap
cost 8% of the Table 5.10 worker's CPU at 100,000 installations (20.2 s of CPU with it, 18.6 s
without, on the benchmark's MCF) and free almost nothing, so it is paused for the file and
resumes its usual schedule afterwards, when whatever cycles were made are collected.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_holders = 0            # pauses in progress (a worker thread and the main thread may both hold one)
_resume = False         # whether the collector ran before the first of them


@contextmanager
def paused() -> Iterator[None]:
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
