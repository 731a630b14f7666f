"""The traceability model as one self-contained HTML file (no network: inline CSS and JS)."""
from __future__ import annotations

import ast
import hashlib

import jinja2

from . import paths, traceability


def _anchor(clause_id: str) -> str:
    # Clause ids contain spaces, colons and slashes; anchors must be plain and stable.
    return "c-" + hashlib.sha1(clause_id.encode("utf-8")).hexdigest()[:12]


def _check_sources(model: dict) -> dict[str, str]:
    """The generated function's source for each rule, read from generated/."""
    out: dict[str, str] = {}
    by_module: dict[str, list[tuple[str, str]]] = {}
    for rid, r in model["rules"].items():
        if r.get("check"):
            module, func = r["check"].split("::")
            by_module.setdefault(module, []).append((rid, func))
    for module, wanted in by_module.items():
        path = paths.root() / module
        if not path.is_file():
            continue
        source = path.read_text(encoding="utf-8")
        funcs = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
        for rid, func in wanted:
            node = funcs.get(func)
            if node is not None:
                out[rid] = ast.get_source_segment(source, node) or ""
    return out


def render(model: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(paths.templates_dir())),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    anchors = {c["id"]: _anchor(c["id"]) for c in model["clauses"]}
    rule_link: dict[str, str] = {}
    for c in model["clauses"]:
        for rid in c["rules"]:
            rule_link.setdefault(rid, anchors[c["id"]])
    actors = sorted({a for c in model["clauses"] for a in c["actors"]})
    group_ids = sorted({g for c in model["clauses"] for g in c.get("group_ids", [])})
    # the versions a clause is in: its own, and those its history says it stands in
    versions_of = {c["id"]: [f"{c['document']} {c['version']}"] + [
        f"{c['document']} {h['version']}" for h in c.get("history", []) if h["status"] not in ("absent", "unknown")]
        for c in model["clauses"]}
    versions = sorted({v for vs in versions_of.values() for v in vs})
    # what a tester reads first: each failing scenario once, and the rules whose results are suspect
    failing, suspect = traceability.failures(model), traceability.suspect_results(model)
    vacuous = [r for r in model["rules"].values() if r.get("vacuity")]
    return env.get_template("report.html.j2").render(
        model=model, anchors=anchors, rule_link=rule_link, actors=actors, group_ids=group_ids,
        versions=versions, versions_of=versions_of, checks_source=_check_sources(model),
        smi_diagrams=_smi_diagrams(), failing=failing, suspect=suspect, vacuous=vacuous)


def _smi_diagrams() -> list[str]:
    """The SMI state diagrams `tmadkit generate` drew (generated/**/*.svg), inlined: edges link to clauses."""
    base = paths.generated_dir()
    return [p.read_text(encoding="utf-8") for p in sorted(base.rglob("*.svg"))] if base.is_dir() else []
