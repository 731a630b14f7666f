"""Write a file whole or not at all: a reader sees the old content or the new, never half.
write_texts does the same for a set of files in one folder: all of them, or none."""
from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path


def _beside(out: Path, suffix: str) -> Path:
    """A hidden name in the same folder (so a rename is atomic) that no other writer uses."""
    return out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.{suffix}"


def _stage(out: Path, text: str | bytes) -> Path:
    """`text` (str as UTF-8 with \\n line ends, or bytes as they are) written and flushed to disk
    under a temporary name beside `out`; its path."""
    tmp = _beside(out, "tmp")
    # Not mkstemp: its files are private (0600), and these are shared repository files, so
    # create with 0666 and let the umask decide, as for any other file written here.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with (os.fdopen(fd, "wb") if isinstance(text, bytes) else
              os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if out.is_file():
            os.chmod(tmp, out.stat().st_mode & 0o7777)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_text(path: Path | str, text: str | bytes) -> None:
    """Write `path` whole or not at all (bytes are written as they are)."""
    out = Path(path)
    if out.is_dir():     # said of the path the caller named, not of the temporary file
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _stage(out, text)
    try:
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_texts(folder: Path | str, files: dict[str, str]) -> None:
    """Write every file of `files` ({name: text}) into `folder`, or none of them: each is staged
    beside its place first, and only when all are on disk are they moved in.  A failure at any
    point leaves the folder as it was: a file already replaced is put back from a hard link to
    its old content (a rename, which needs no space), one that is new is removed again."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    old: dict[str, Path] = {}
    placed: list[str] = []
    try:
        for name, text in files.items():
            try:
                staged[name] = _stage(folder / name, text)
            except OSError as exc:   # a write has no file name of its own: name the file it was for
                raise OSError(exc.errno, exc.strerror, str(folder / name)) from exc
        for name in files:
            if (folder / name).is_file():
                old[name] = _beside(folder / name, "old")
                os.link(folder / name, old[name])
        for name, tmp in staged.items():
            os.replace(tmp, folder / name)
            placed.append(name)
    except BaseException:
        for name in reversed(placed):
            if name in old:
                os.replace(old.pop(name), folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
        for leftover in (*staged.values(), *old.values()):
            leftover.unlink(missing_ok=True)
        if created:
            _remove_if_empty(folder)
        raise
    for link in old.values():
        link.unlink()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
