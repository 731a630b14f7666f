"""`tmadkit make-file SPEC.yaml --pki DIR`: build, sign and name a migration file
(TMAD Clause 10, Table 10.2) from a short spec; see tmadkit.files.build for the format."""
from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ..errors import InputError
from ..files.build import build
from ..files.tamper import TAMPER_OPS, tamper
from ..rules import _Loader as _SpecLoader  # duplicate keys refused, timestamps kept as text
from ..smki import pki as pki_mod
from ._output import add_json_flag, emit_json

HELP = "build a signed migration file (MCF, MGF, MEF, MVF, SCF, COF) from a YAML spec"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC.yaml",
                   help="the file description (format: tmadkit.files.build module docstring)")
    p.add_argument("--pki", metavar="DIR", required=True,
                   help="an existing test PKI made by `tmadkit pki init DIR` (required: make-file "
                        "never creates keys itself; they go only where you put them)")
    p.add_argument("--out", metavar="DIR", default=".",
                   help="directory to write the file to (default: .); an existing file of the "
                        "same name is replaced")
    p.add_argument("--tamper", metavar="OP", choices=sorted(TAMPER_OPS),
                   help="write a hostile/invalid variant instead: " + ", ".join(TAMPER_OPS))
    p.add_argument("--now", metavar="ISO",
                   help="the default signer must be valid at this time (ISO 8601; no offset "
                        "means UTC)")
    add_json_flag(p)


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now {text!r} is not an ISO 8601 date-time") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def load_spec(path: str) -> dict:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read spec: {exc.strerror or exc}", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"spec is not UTF-8 ({exc.reason} at byte {exc.start})", file=path) from None
    try:
        data = yaml.load(text, Loader=_SpecLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(f"malformed YAML: {exc.problem or exc}", file=path,
                         line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputError("the spec must be a YAML mapping with at least `type:`", file=path)
    return data


def _load_pki(directory: str) -> pki_mod.Pki:
    if not (Path(directory) / pki_mod.MANIFEST).is_file():
        raise InputError(f"no test PKI here ({pki_mod.MANIFEST} missing); create one with "
                         f"`tmadkit pki init {directory}`", file=directory)
    return pki_mod.load(directory)


def write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Write ``directory/name`` so that a reader sees the old file or the whole new one."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", file=str(directory)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)        # mkstemp makes 0600; these are test files, not secrets
        target = directory / name
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write: {exc.strerror or exc}", file=str(directory / name)) from None
    return target


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    pki = _load_pki(args.pki)
    built = build(spec, pki, now=_parse_now(args.now), source=args.spec)
    content = built.content if args.tamper is None else tamper(built.content, args.tamper, pki=pki)
    path = write_atomically(Path(args.out), built.name, content)
    if args.json:
        emit_json({"name": built.name, "path": str(path), "file_type": built.file_type,
                   "signer": built.signer, "naming_rule": built.naming_rule, "tamper": args.tamper,
                   "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)})
    else:
        print(built.name)
    return 0
