"""Write a file whole or not at all: a reader sees the old content or the new, never half."""
from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path


def write_text(path: Path | str, text: str) -> None:
    out = Path(path)
    if out.is_dir():     # said of the path the caller named, not of the temporary file
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # Not mkstemp: its files are private (0600), and these are shared repository files, so
    # create with 0666 and let the umask decide, as for any other file written here.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if out.exists():
            os.chmod(tmp, out.stat().st_mode & 0o7777)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
