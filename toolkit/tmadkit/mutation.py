"""Mutation testing of the generated checks: proof that each check can fail.

Each generated check function is mutated in two ways:
- negation: its result is negated (`result = p.negate(...)`), so a check that passes
  everything or fails everything is exposed;
- constants: each literal argument of a primitive (a required value, a fact path, a
  file-name part, a window) is perturbed one at a time.
A mutant is killed when at least one of the rule's witnesses gets a verdict other than
the one it expects.  Every negation mutant must be killed; a surviving constant mutant
names a witness set that does not pin its check down.
"""
from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from types import ModuleType
from typing import Iterator

from . import paths, registry
from .authentication.witness import evaluate
from .rules import RuleSet


@dataclass
class Mutant:
    rule: str
    kind: str            # "negation" or "constant"
    description: str
    killed: bool = False
    killed_by: str | None = None


@dataclass
class MutationReport:
    rules: int = 0
    witnesses: int = 0
    mutants: list[Mutant] = field(default_factory=list)

    def count(self, kind: str) -> tuple[int, int]:
        ms = [m for m in self.mutants if m.kind == kind]
        return sum(m.killed for m in ms), len(ms)

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m in self.mutants if not m.killed]


def witness_cases(rule) -> list[tuple]:
    """(witness, version, expected verdict): once, or once per version it states a verdict for."""
    out = []
    for w in rule.witnesses:
        if isinstance(w.expect, str):
            out.append((w, None, w.expect))
        else:
            out.extend((w, v, e) for v, e in sorted(w.expect.items()))
    return out


def _perturb(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "\u2020" if value else "\u2020"
    return None


class _ConstantSites(ast.NodeVisitor):
    """Literal arguments of primitive calls (p.<name>(facts, kw=...)) inside one function."""

    def __init__(self):
        self.sites: list[tuple[ast.AST, str]] = []

    def visit_Call(self, node: ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "p" \
                and f.attr == "version_values" and node.args and isinstance(node.args[0], ast.Dict):
            # the per-version values: each must be pinned by a witness of that version
            for const in (n for n in ast.walk(node.args[0]) if isinstance(n, ast.Constant)):
                if isinstance(const.value, int) and not isinstance(const.value, bool):
                    self.sites.append((const, f"version value {const.value!r} -> {_perturb(const.value)!r}"))
            return
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "p":
            for kw in node.keywords:
                for const in (n for n in ast.walk(kw.value) if isinstance(n, ast.Constant)):
                    if _perturb(const.value) is not None:
                        self.sites.append((const, f"{f.attr}({kw.arg}={const.value!r} -> {_perturb(const.value)!r})"))
        self.generic_visit(node)


def _mutants(func: ast.FunctionDef) -> Iterator[tuple[str, str, ast.FunctionDef]]:
    """The mutants of one generated check function (only that function is copied)."""
    neg = copy.deepcopy(func)
    for stmt in neg.body:
        if isinstance(stmt, ast.Assign) and [t.id for t in stmt.targets if isinstance(t, ast.Name)] == ["result"]:
            stmt.value = ast.Call(func=ast.Attribute(value=ast.Name("p", ast.Load()), attr="negate", ctx=ast.Load()),
                                  args=[stmt.value], keywords=[])
            break
    else:
        raise ValueError(f"{func.name}: no `result = ...` to negate")
    yield "negation", "result negated", ast.fix_missing_locations(neg)
    finder = _ConstantSites()
    finder.visit(func)
    for n, (_, description) in enumerate(finder.sites):
        mutant = copy.deepcopy(func)
        sites = _ConstantSites()
        sites.visit(mutant)
        node, _ = sites.sites[n]
        node.value = _perturb(node.value)
        yield "constant", description, mutant


def _load(tree: ast.Module, filename: str) -> ModuleType:
    module = ModuleType("tmadkit_mutant")
    module.__file__ = filename
    exec(compile(tree, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    return module


def _mutant_check(func: ast.FunctionDef, module: ModuleType, filename: str):
    """Compile just the mutated function against the unmutated module's globals: the rest of
    a generated module (constants, other checks) is the same for every mutant."""
    namespace = dict(module.__dict__)
    exec(compile(ast.Module(body=[func], type_ignores=[]), filename, "exec"), namespace)  # noqa: S102
    return namespace[func.name]


def run(ruleset: RuleSet, only: set[str] | None = None) -> MutationReport:
    manifest = registry.manifest()["rules"]
    rules = {r.id: r for r in ruleset if r.testable and (only is None or r.id in only)}
    report = MutationReport(rules=len(rules), witnesses=sum(len(r.witnesses) for r in rules.values()))
    by_module: dict[str, list[str]] = {}
    for rid in rules:
        by_module.setdefault(manifest[rid]["module"], []).append(rid)
    for module_rel, rule_ids in sorted(by_module.items()):
        path = paths.root() / module_rel
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = _load(tree, str(path))
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for rid in sorted(rule_ids):
            rule = rules[rid]
            for kind, description, mutant_func in _mutants(functions[manifest[rid]["function"]]):
                m = Mutant(rid, kind, description)
                check = _mutant_check(mutant_func, module, str(path))
                for w, version, expect in witness_cases(rule):
                    try:
                        status = evaluate(check, w.facts, version).status
                    except Exception as exc:  # a crash on a witness also exposes the mutant
                        status = f"error: {type(exc).__name__}"
                    if status != expect:
                        m.killed, m.killed_by = True, f"{w.id}@{version or '-'} (expected {expect}, got {status})"
                        break
                report.mutants.append(m)
    return report
