"""One setting of the C allocator for processes that build and free multi-gigabyte trees.

libxml2 allocates every node of a parsed document with malloc: a 400 MB MCF is some 40
million small blocks.  glibc keeps small freed blocks in "fastbins" without merging them, and
merges them all at the next large free.  So after such a tree is freed, the first ordinary
free of a large Python object stops for about a second to merge 40 million blocks (measured:
freeing the tree 0.37 s, then 1.0 s for the next free of a 100,000-item list; 0.43 s and
0.007 s without fastbins, with no measurable change in parse time: python -m
tmadkit.bench.common_validation).  A 43 MB MCF's tree still costs 0.10 s of such merging, where
0.006 s is left without fastbins, hence safe.py's threshold of 16 MB.  Turning fastbins off (mallopt M_MXFAST = 0, what the
GLIBC_TUNABLES setting glibc.malloc.mxfast=0 does at start-up) makes blocks merge as they
are freed.  Elsewhere (another C library, or no mallopt) nothing is done.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

_M_MXFAST = 1     # glibc malloc.h


@lru_cache(maxsize=1)
def no_fastbins() -> bool:
    """Turn glibc's fastbins off for this process (once); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(_M_MXFAST, 0) == 1
