"""A partial version of a document: only the clauses a change document gives (TMAD 6.1F).

The reviewed file (spec/resolutions/<DOC>-<VERSION>.yaml) lists each entry with the verbatim
fragments of the change document it comes from; the ingester finds every fragment in the
source (so a quote cannot drift from its evidence), records the lines, and writes a
catalogue marked `partial`.  Clauses the file does not list are unknown in that version.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from .. import atomic, paths
from ..catalogue import Catalogue, Entry, normalise, sha256_file
from ..errors import InputError


def _line_of(lines: list[str], fragment: str, file: str, entry: str) -> int:
    """1-based line where the (normalised) fragment starts; it must occur exactly once."""
    target = normalise(fragment)
    hits = [i + 1 for i, line in enumerate(lines) if target in normalise(line)]
    if len(hits) != 1:
        found = "not found" if not hits else f"found on lines {hits}"
        raise InputError(f"{entry}: fragment {fragment[:60]!r} {found}; it must occur on exactly one line", file=file)
    return hits[0]


def build_catalogue(spec_path: Path) -> Catalogue:
    spec_path = Path(spec_path)
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(spec_path),
                         line=mark.line + 1 if mark else None) from None
    source = paths.spec_dir() / "sources" / spec["source"]
    lines = source.read_text(encoding="utf-8").splitlines()
    rel = f"spec/sources/{spec['source']}"
    entries = []
    for item in spec["entries"]:
        if item.get("status") not in ("given", "described"):
            raise InputError(f"{item.get('id')}: status must be 'given' or 'described'", file=str(spec_path))
        at = [_line_of(lines, f, rel, item["id"]) for f in item["fragments"]]
        text = " ".join(normalise(f) for f in item["fragments"])
        cells = item.get("cells")
        if cells:
            text = " | ".join(cells.values())
        entries.append(Entry(id=item["id"], kind=item["kind"], text=text, lines=(min(at), max(at)),
                             cells=cells, status=item["status"]))
    return Catalogue(document=spec["document"], version=str(spec["version"]), source=rel,
                     source_sha256=sha256_file(source), entries=entries, partial=True)


def ingest_to_file(source: Path, out: Path, version: str, resolutions: str | None = None, **_) -> Catalogue:
    spec_path = paths.root() / resolutions if resolutions else paths.spec_dir() / "resolutions" / f"TMAD-{version}.yaml"
    cat = build_catalogue(spec_path)
    atomic.write_text(out, cat.dump())
    return cat
