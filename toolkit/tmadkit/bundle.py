"""Evidence bundle: the report, its exports, and everything it was produced from, in one zip.

The manifest (manifest.json) lists every file with its SHA-256 and records the run's time
once; `verify-bundle` recomputes every digest, so one changed byte anywhere is named.
Bundles are reproducible: entries are sorted, zip timestamps and permissions are fixed,
and the copies of JUnit and Cucumber JSON have their durations and timestamps removed
(they are the only non-deterministic parts of a run), so rerunning over the same inputs
gives a byte-identical zip.
"""
from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import __version__, paths
from .errors import InputError

MANIFEST = "manifest.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# Project data that the run used: the exact rules and source texts, the catalogues, the
# generated artefacts.  Paths are relative to the project root.
PROJECT_TREES = ("rules", "spec/sources", "spec/catalogue", "spec/resolutions", "spec/schemas", "generated", "features")


def _normalise_junit(data: bytes) -> bytes:
    text = data.decode("utf-8")
    text = re.sub(r' (time|timestamp|hostname)="[^"]*"', "", text)
    return text.encode("utf-8")


def _normalise_cucumber(data: bytes) -> bytes:
    doc = json.loads(data)

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "duration"}
        if isinstance(node, list):
            return [strip(x) for x in node]
        return node
    return (json.dumps(strip(doc), indent=2, sort_keys=True) + "\n").encode("utf-8")


NORMALISE = {"junit.xml": _normalise_junit, "cucumber.json": _normalise_cucumber}


def _files(report_dir: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(report_dir.rglob("*")):
        if path.is_file():
            rel = path.relative_to(report_dir).as_posix()
            data = path.read_bytes()
            out[f"report/{rel}"] = NORMALISE.get(rel, lambda d: d)(data)
    root = paths.root()
    for tree in PROJECT_TREES:
        for path in sorted((root / tree).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out[f"project/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return out


def _manifest(files: dict[str, bytes], run: dict) -> bytes:
    body = {
        "format": "tmadkit-evidence-bundle/1",
        "tmadkit": __version__,
        "run": run,
        "files": [{"path": p, "sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d)} for p, d in sorted(files.items())],
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body["manifest_sha256"] = hashlib.sha256(canonical).hexdigest()
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write(out_zip: Path, report_dir: Path, run: dict) -> dict:
    """Write the bundle whole (temp file + rename).  `run` holds the run's time and implementation."""
    files = _files(report_dir)
    files[MANIFEST] = _manifest(files, run)
    tmp = out_zip.with_name(f".{out_zip.name}.tmp")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[name])
    tmp.replace(out_zip)
    return {"files": len(files), "path": str(out_zip)}


@dataclass
class Verification:
    ok: bool
    files: int
    problems: list[str]


def verify(bundle: Path) -> Verification:
    try:
        z = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"not a readable zip: {exc}", file=str(bundle)) from None
    with z:
        every = z.namelist()
        names = set(every)
        # Two entries under one name: which one an unzip tool shows is its own choice, so the
        # copy the digests were checked on need not be the copy a reader sees.
        twice = sorted(n for n in names if every.count(n) > 1)
        if twice:
            return Verification(False, 0, [f"{n}: {every.count(n)} entries under this one name" for n in twice])
        if MANIFEST not in names:
            return Verification(False, 0, [f"{MANIFEST}: missing"])
        raw = z.read(MANIFEST)
        try:
            manifest = json.loads(raw)
        except json.JSONDecodeError as exc:
            return Verification(False, 0, [f"{MANIFEST}: not JSON ({exc.msg} at line {exc.lineno})"])
        problems = []
        if not isinstance(manifest, dict):
            return Verification(False, 0, [f"{MANIFEST}: not a JSON object"])
        sealed = manifest.pop("manifest_sha256", None)
        canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if sealed != hashlib.sha256(canonical).hexdigest():
            problems.append(f"{MANIFEST}: altered (its own digest does not match its content)")
        entries = manifest.get("files")
        if not isinstance(entries, list) or not all(
                isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
                for f in entries):
            return Verification(False, 0, problems + [f"{MANIFEST}: 'files' is not a list of {{path, sha256}}"])
        listed = {f["path"]: f for f in entries}
        for path, f in sorted(listed.items()):
            if path not in names:
                problems.append(f"{path}: missing from the bundle")
                continue
            digest = hashlib.sha256(z.read(path)).hexdigest()
            if digest != f["sha256"]:
                problems.append(f"{path}: altered (sha256 {digest[:16]}… ≠ manifest {f['sha256'][:16]}…)")
        for extra in sorted(names - set(listed) - {MANIFEST}):
            problems.append(f"{extra}: not in the manifest")
    return Verification(not problems, len(listed), problems)


def exports(model: dict) -> dict[str, str]:
    """The CSV matrix and OSCAL assessment-results that go beside the report: {file name: text}."""
    from .exports import csv_matrix, oscal_assessment_results

    return {"traceability.csv": csv_matrix(model),
            "oscal-assessment-results.json": json.dumps(oscal_assessment_results(model), indent=2, sort_keys=True,
                                                        ensure_ascii=False) + "\n"}
