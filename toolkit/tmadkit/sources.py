"""The source texts and how each becomes a catalogue (spec/sources/provenance.yaml)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import catalogue, paths
from .errors import InputError


@dataclass(frozen=True)
class Source:
    file: str
    document: str
    title: str
    ingest: tuple[dict, ...]       # one entry per catalogue version made from this text

    @property
    def path(self) -> Path:
        return paths.spec_dir() / "sources" / self.file


def all_sources() -> list[Source]:
    path = paths.spec_dir() / "sources" / "provenance.yaml"
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return [Source(s["file"], s["document"], s["title"], tuple(s.get("ingest") or ())) for s in data["sources"]]


def catalogued() -> list[tuple[Source, dict]]:
    """(source, ingest spec) for every catalogue version, current versions first.  A spec may
    name the document it catalogues (a change document can give a partial version of another)."""
    pairs = [(s, spec) for s in all_sources() for spec in s.ingest]
    return sorted(pairs, key=lambda p: (not p[1].get("current", False), document_of(*p), p[1]["version"]))


def document_of(source: Source, spec: dict) -> str:
    return spec.get("document", source.document)


def version_key(version: str) -> tuple:
    """Document versions in order: 5.0 < 5.1 < 6.1F (numbers first, then any suffix)."""
    import re

    parts = re.findall(r"\d+|[^\d.]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def versions(document: str) -> list[str]:
    return sorted({spec["version"] for s, spec in catalogued() if document_of(s, spec) == document}, key=version_key)


def partial_versions(document: str) -> set[str]:
    return {spec["version"] for s, spec in catalogued() if document_of(s, spec) == document and spec.get("partial")}


def rule_versions(rule) -> list[str]:
    """The document versions a rule applies to: all catalogued ones, within applies_to.versions."""
    bounds = rule.applies_to.get("versions", {})
    partial = partial_versions(rule.document)
    stated = {v for by_version in rule.values.values() for v in by_version}
    stated |= {v for w in rule.witnesses if isinstance(w.expect, dict) for v in w.expect}
    out = []
    for v in versions(rule.document):
        if v in partial and v not in stated:
            continue  # most clauses are unknown in a partial version: only rules that state it run
        if "since" in bounds and version_key(v) < version_key(bounds["since"]):
            continue
        if "until" in bounds and version_key(v) > version_key(bounds["until"]):
            continue
        out.append(v)
    return out


def ingest(source: Source, spec: dict, out_root: Path | None = None) -> catalogue.Catalogue:
    """Parse one source into spec/catalogue/<DOC>/<version>.yaml (written whole or not at all)."""
    module = importlib.import_module(f"tmadkit.ingest.{spec['parser']}")
    out = catalogue.catalogue_path(document_of(source, spec), spec["version"], out_root)
    kwargs = {}
    for key in ("view", "resolutions", "document", "quoted_as"):
        if key in spec:
            kwargs[key] = spec[key]
    return module.ingest_to_file(source.path, out, version=spec["version"], **kwargs)


def current_catalogues() -> dict[str, catalogue.Catalogue]:
    """The catalogue each rule document is checked against: {document: Catalogue}."""
    return {document_of(s, spec): catalogue.load(document_of(s, spec), spec["version"])
            for s, spec in catalogued() if spec.get("current")}


def current_version(document: str) -> str:
    for s, spec in catalogued():
        if document_of(s, spec) == document and spec.get("current"):
            return spec["version"]
    raise InputError(f"no current catalogue for {document} in spec/sources/provenance.yaml")


def source_disputes() -> list[dict]:
    """The readings of the source texts that spec/resolutions/ leaves open (`disputed:`, not
    applied: the catalogue keeps the text as printed), for the reports: {file, id, clause, line,
    text, readings, evidence}."""
    from .ingest import resolutions

    out = []
    for path in sorted((paths.spec_dir() / "resolutions").glob("*.yaml")):
        for item in resolutions.load(path).disputed:
            where = item.get("where") or {}
            out.append({"file": f"spec/resolutions/{path.name}", "id": item["id"], "clause": where.get("clause"),
                        "line": where.get("line"), "text": item.get("text"), "readings": list(item["readings"]),
                        "evidence": item.get("evidence") or []})
    return out
