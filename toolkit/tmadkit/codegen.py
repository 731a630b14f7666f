"""Turn rule predicates and witnesses into source text (Python expressions, Gherkin cells).

Kept apart from generator.py so that the generator reads as "which files, from which
templates" and this module as "how one predicate becomes one expression".
"""
from __future__ import annotations

import json
import textwrap
from typing import Any

from .rules import Rule
from .runtime.facts import flatten
from .runtime.primitives import ARG_ALIASES, COMBINATORS, PRIMITIVES

ABSENT = "(absent)"
INDENT = "    "


def predicate_expr(pred: dict, depth: int = 1) -> str:
    """Python source for a predicate: nested calls of tmadkit.runtime.primitives (as `p`)."""
    (name, args), = pred.items()
    pad = INDENT * (depth + 1)
    if name in ("all", "any"):
        inner = (",\n" + pad).join(predicate_expr(a, depth + 1) for a in args)
        return f"p.{COMBINATORS[name].__name__}(\n{pad}{inner},\n{INDENT * depth})"
    if name == "not":
        return f"p.negate({predicate_expr(args, depth)})"
    if name not in PRIMITIVES:
        raise ValueError(f"unknown primitive {name!r}")
    kwargs = ", ".join(f"{ARG_ALIASES.get(k, k)}={_arg(v)}" for k, v in args.items())
    return f"p.{PRIMITIVES[name].__name__}(facts, {kwargs})"


def _arg(value: Any) -> str:
    """A literal argument, or a per-version value ({value: NAME} -> values['NAME'])."""
    if isinstance(value, dict) and set(value) == {"value"}:
        return f"values[{value['value']!r}]"
    return repr(value)


def version_table(rule: Rule) -> dict[str, dict[str, Any]]:
    """{version: {name: value}} from the rule's {name: {version: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for name, by_version in sorted(rule.values.items()):
        for version, value in sorted(by_version.items()):
            out.setdefault(version, {})[name] = value
    return out


def applicability_preds(rule: Rule) -> list[dict]:
    """The applies_to section as predicates: where one fails the rule is not applicable."""
    a = rule.applies_to
    preds: list[dict] = []
    for key, fact in (("file_types", "file_type"), ("group_ids", "group_id"),
                      ("device_types", "device_type"), ("requests", "request.name")):
        if key in a:
            preds.append({"one_of": {"fact": fact, "values": a[key]}})
    if "when" in a:
        preds.append(a["when"])
    return preds


def docstring(text: str, width: int = 88, indent: str = INDENT) -> str:
    """Wrap text for a docstring body, escaping what would end or break it."""
    safe = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return "\n".join(textwrap.fill(para, width=width, initial_indent=indent, subsequent_indent=indent)
                     for para in safe.split("\n"))


# --- Gherkin ---------------------------------------------------------------------------

def cell(value: Any) -> str:
    """A witness value as a Gherkin table cell: JSON, so types survive; escaped for Gherkin."""
    text = ABSENT if value is _MISSING else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")


_MISSING = object()


def witness_columns(rule: Rule) -> list[str]:
    """Union of the witnesses' fact paths, in first-seen order (deterministic)."""
    cols: list[str] = []
    for w in rule.witnesses:
        for path in flatten(w.facts):
            if path not in cols:
                cols.append(path)
    return cols


def examples_table(rule: Rule, version: str | None = None) -> list[list[str]]:
    """Examples rows from the witnesses; with a version, each row's verdict for that version
    (witnesses that state no verdict for it are left out)."""
    cols = witness_columns(rule)
    outcome = rule.outcome["action"] if rule.outcome else "none"
    rows = [["witness", *cols, "verdict", "outcome"]]
    for w in rule.witnesses:
        expect = w.expect_for(version) if version else w.expect
        if not isinstance(expect, str):
            continue
        flat = flatten(w.facts)
        rows.append([w.id, *[cell(flat.get(c, _MISSING)) for c in cols], expect,
                     outcome if expect == "fail" else "none"])
    return rows


def align(rows: list[list[str]], indent: str) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]


def tag(clause_or_rule_id: str) -> str:
    """A clause id as a Gherkin tag: no spaces, ':' becomes '-' (TMAD:10.2 -> @TMAD-10.2)."""
    return "@" + clause_or_rule_id.replace(":", "-").replace(" ", "_")


_GHERKIN_KEYWORDS = ("Feature", "Rule", "Background", "Scenario", "Example", "Given", "When", "Then",
                     "And", "But", "@", "#", "|", '"""', "```", "*")


def description_lines(text: str, width: int = 100, indent: str = "  ") -> list[str]:
    """Free text for a Feature description that can never be read as Gherkin syntax."""
    out = []
    for line in textwrap.wrap(text, width=width) or [""]:
        if line.lstrip().startswith(_GHERKIN_KEYWORDS):
            line = "… " + line
        out.append(indent + line)
    return out
