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
    ingest: dict | None

    @property
    def path(self) -> Path:
        return paths.spec_dir() / "sources" / self.file


def all_sources() -> list[Source]:
    path = paths.spec_dir() / "sources" / "provenance.yaml"
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return [Source(s["file"], s["document"], s["title"], s.get("ingest")) for s in data["sources"]]


def catalogued() -> list[Source]:
    return [s for s in all_sources() if s.ingest]


def ingest(source: Source, out_root: Path | None = None) -> catalogue.Catalogue:
    """Parse one source into spec/catalogue/<DOC>/<version>.yaml (written whole or not at all)."""
    spec = source.ingest
    if not spec:
        raise InputError(f"{source.file} has no ingest section in provenance.yaml", file=source.file)
    module = importlib.import_module(f"tmadkit.ingest.{spec['parser']}")
    out = catalogue.catalogue_path(source.document, spec["version"], out_root)
    kwargs = {}
    if "view" in spec:
        kwargs["view"] = spec["view"]
    return module.ingest_to_file(source.path, out, version=spec["version"], **kwargs)


def current_catalogues() -> dict[str, catalogue.Catalogue]:
    """The catalogue each rule document is checked against: {document: Catalogue}."""
    out = {}
    for s in catalogued():
        out[s.document] = catalogue.load(s.document, s.ingest["version"])
    return out
