"""Clause-level changes between two versions of a document, and what they touch.

Entries are paired by identity, not by number: a clause renumbered in the new version
carries the old citation as an alias (`TMAD@5.0:4.23` on 5.1's 4.24), and relabelled
tables are paired by the reviewed map in spec/resolutions/<DOC>-<NEW>.yaml.  So 4.23 -> 4.24
is reported as renumbering, not as a removal and an addition, and a number that now
holds different text (5.1's 4.23) is reported as replaced.

Changed words are classified so that what matters to a conformance engineer stands out:
durations ("48 hours" -> "336 hours"), other numbers, and modal verbs ("may" -> "shall").
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

import yaml

from . import paths
from .catalogue import COUNTED_KINDS, Catalogue, fingerprint
from .rules import RuleSet

ADDED, REMOVED, CHANGED, RENUMBERED, RELABELLED = "added", "removed", "changed", "renumbered", "relabelled"

_UNITS = r"(?:Working Days?|hours?|days?|weeks?|months?|years?|minutes?|seconds?)"
CATEGORIES = {
    "duration": re.compile(rf"\b\d+(?:\.\d+)?\s*{_UNITS}\b", re.IGNORECASE),
    "number": re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?![\w.]*\w)"),
    "modal": re.compile(r"\b(?:shall not|shall|must not|must|may not|may|should|will not|will|need not)\b"),
}
# Below this similarity the new text is a different clause, not an edit of the old one.
REPLACED_BELOW = 0.5


@dataclass
class Change:
    kind: str
    old_id: str | None
    new_id: str | None
    entry_kind: str
    old_text: str | None = None
    new_text: str | None = None
    replaced: bool = False
    note: str | None = None
    highlights: list[dict] = field(default_factory=list)
    words: list[list[str]] = field(default_factory=list)   # [op, old words, new words]

    @property
    def text_changed(self) -> bool:
        return self.old_text is not None and self.new_text is not None and self.old_text != self.new_text


@dataclass
class Diff:
    document: str
    old: str
    new: str
    changes: list[Change]
    renumbering: dict[str, str]
    relabelling: dict[str, str]
    suspect: list[dict] = field(default_factory=list)
    impact: dict = field(default_factory=dict)
    unknown: int = 0             # entries a partial version neither gives nor removes

    def to_dict(self) -> dict:
        counts = Counter(c.kind for c in self.changes)
        if self.unknown:
            counts["unknown"] = self.unknown
        return {"document": self.document, "old": self.old, "new": self.new,
                "summary": dict(sorted(counts.items())),
                "renumbering": self.renumbering, "relabelling": self.relabelling,
                "changes": [asdict(c) for c in self.changes],
                "suspect_rules": self.suspect, "impact": self.impact}


def _highlights(old: str, new: str) -> list[dict]:
    out = []
    for category, rx in CATEGORIES.items():
        a, b = Counter(rx.findall(old)), Counter(rx.findall(new))
        gone, came = sorted((a - b).elements()), sorted((b - a).elements())
        if gone or came:
            out.append({"category": category, "old": gone, "new": came})
    return out


def _words(old: str, new: str) -> list[list[str]]:
    a, b = old.split(), new.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        out.append([op, " ".join(a[i1:i2]), " ".join(b[j1:j2])])
    return out


def _relabelling(document: str, new: str) -> dict[str, str]:
    path = paths.spec_dir() / "resolutions" / f"{document}-{new}.yaml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {item["old"]: item["new"] for item in data.get("relabelled") or []}


def _relabel(old_id: str, mapping: dict[str, str]) -> str | None:
    for old_prefix, new_prefix in mapping.items():
        if old_id == old_prefix or old_id.startswith(old_prefix + "/"):
            return new_prefix + old_id[len(old_prefix):]
    return None


def compare(old: Catalogue, new: Catalogue) -> Diff:
    if old.document != new.document:
        raise ValueError(f"cannot compare {old.document} with {new.document}")
    doc = new.document
    olds = {e.id: e for e in old.entries if e.kind != "heading"}
    news = {e.id: e for e in new.entries if e.kind != "heading"}
    prefix = f"{doc}@{old.version}:"
    renumbering = {f"{doc}:{a[len(prefix):]}": e.id for e in news.values() for a in e.aliases if a.startswith(prefix)}
    relabelling = _relabelling(doc, new.version)

    pairs: dict[str, str] = {}           # old id -> new id
    for old_id in olds:
        target = renumbering.get(old_id) or _relabel(old_id, relabelling)
        if target in news:
            pairs[old_id] = target
    claimed_new = set(pairs.values())
    for old_id in olds:
        if old_id not in pairs and old_id in news and old_id not in claimed_new:
            pairs[old_id] = old_id
    claimed_new = set(pairs.values())

    changes: list[Change] = []
    unknown = 0
    for old_id, new_id in pairs.items():
        o, n = olds[old_id], news[new_id]
        if n.status == "described" or o.status == "described":
            changes.append(Change(CHANGED, old_id, new_id, n.kind, o.text, n.text,
                                  note=f"described, not quoted, in {new.version if n.status else old.version}",
                                  highlights=_highlights(o.text, n.text)))
            continue
        kind = CHANGED
        if old_id != new_id:
            kind = RELABELLED if _relabel(old_id, relabelling) == new_id else RENUMBERED
        if kind == CHANGED and o.text == n.text:
            continue
        c = Change(kind, old_id, new_id, n.kind, o.text, n.text)
        if c.text_changed:
            c.highlights, c.words = _highlights(o.text, n.text), _words(o.text, n.text)
            c.replaced = difflib.SequenceMatcher(a=o.text.split(), b=n.text.split(), autojunk=False).ratio() < REPLACED_BELOW
        changes.append(c)
    for new_id, n in news.items():
        if new_id in claimed_new:
            continue
        if new_id in olds:   # the number existed, but its old text moved elsewhere
            moved_to = pairs.get(new_id)
            c = Change(CHANGED, new_id, new_id, n.kind, olds[new_id].text, n.text, replaced=True,
                       note=f"{new_id} now holds different text; its {old.version} text is {moved_to} in {new.version}")
            c.highlights, c.words = _highlights(c.old_text, c.new_text), _words(c.old_text, c.new_text)
            changes.append(c)
        elif old.partial:
            unknown += 1         # a partial OLD says nothing about what it does not quote
        else:
            changes.append(Change(ADDED, None, new_id, n.kind, None, n.text))
    for old_id, o in olds.items():
        if old_id not in pairs and old_id not in news:
            if new.partial:
                unknown += 1     # a partial version says nothing about what it does not give
                continue
            changes.append(Change(REMOVED, old_id, None, o.kind, o.text, None))

    order = {e.id: i for i, e in enumerate(new.entries)}
    order_old = {e.id: i for i, e in enumerate(old.entries)}
    changes.sort(key=lambda c: (order.get(c.new_id, 10**6), order_old.get(c.old_id, 10**6)))
    return Diff(doc, old.version, new.version, changes,
                {k: v for k, v in renumbering.items() if k in olds}, relabelling, unknown=unknown)


def assess(diff: Diff, ruleset: RuleSet, manifest: dict, current_version: str) -> Diff:
    """Rules made suspect by the change, and the artefacts a regeneration would touch."""
    side = "new_id" if current_version == diff.new else "old_id"
    touched = {getattr(c, side): c for c in diff.changes
               if getattr(c, side) and (c.text_changed or c.kind in (ADDED, REMOVED))}
    # A clause gone from the current version has no id on its side; the rules still citing
    # it do so by the id it had.
    gone, other = (REMOVED, "old_id") if side == "new_id" else (ADDED, "new_id")
    for c in diff.changes:
        if c.kind == gone and getattr(c, other) not in touched:
            touched[getattr(c, other)] = c
    suspect, modules, features, rows = [], set(), set(), set()
    for rule in ruleset:
        hits = [cid for cid in rule.clause_ids if cid in touched]
        if not hits:
            continue
        # Reviewed since: every hit cites the current side's text by its fingerprint (a removed
        # clause can only be dealt with by rewriting the rule).
        now = {c.id: c.fingerprint for c in rule.clauses}
        text = (lambda c: c.new_text) if side == "new_id" else (lambda c: c.old_text)
        reviewed = all(text(touched[h]) is not None and now.get(h) == fingerprint(text(touched[h])) for h in hits)
        suspect.append({"rule": rule.id, "file": rule.file, "line": rule.line,
                        "clauses": hits, "changes": sorted({touched[h].kind for h in hits}), "reviewed": reviewed})
        m = manifest["rules"].get(rule.id, {})
        if "module" in m:
            modules.add(f"{m['module']}::{m['function']}")
            features.add(f"{m['feature']}: {m['scenario']}")
    for c in diff.changes:
        if c.entry_kind in COUNTED_KINDS:
            rows.add(c.new_id or c.old_id)
    diff.suspect = suspect
    diff.impact = {"validators": sorted(modules), "scenarios": sorted(features), "report_rows": sorted(rows)}
    return diff


def to_markdown(diff: Diff) -> str:
    d = diff.to_dict()
    lines = [f"# {diff.document} {diff.old} → {diff.new}", "",
             "Changes: " + ", ".join(f"{n} {k}" for k, n in d["summary"].items()), ""]
    if diff.unknown:
        lines += [f"One side is a partial version: {diff.unknown} entries are known on one side only and "
                  "are reported as unknown, not as added or removed.", ""]
    if diff.renumbering:
        moved = [(o, n) for o, n in diff.renumbering.items() if o != n]
        if moved:
            lines += ["## Renumbering", "", f"{moved[0][0]} → {moved[0][1]} … {moved[-1][0]} → {moved[-1][1]} "
                      f"({len(moved)} entries, including sub-items)", ""]
    if diff.relabelling:
        lines += ["## Relabelled", ""] + [f"- {o} → {n}" for o, n in diff.relabelling.items()] + [""]
    lines += ["## Clauses", ""]
    for c in diff.changes:
        head = {ADDED: f"**added** {c.new_id}", REMOVED: f"**removed** {c.old_id}",
                RENUMBERED: f"**renumbered** {c.old_id} → {c.new_id}",
                RELABELLED: f"**relabelled** {c.old_id} → {c.new_id}",
                CHANGED: f"**{'replaced' if c.replaced else 'changed'}** {c.new_id}"}[c.kind]
        if c.kind in (RENUMBERED, RELABELLED) and c.text_changed:
            head += " (text changed)"
        lines.append(f"- {head}" + (f": {c.note}" if c.note else ""))
        for h in c.highlights:
            lines.append(f"  - {h['category']}: {', '.join(h['old']) or '—'} → {', '.join(h['new']) or '—'}")
        if c.words and not c.replaced:
            edits = [f"~~{o}~~ {n}".strip() if o else f"+{n}" for op, o, n in c.words if op != "equal"]
            if edits:
                lines.append(f"  - words: {'; '.join(edits)[:400]}")
    if diff.suspect:
        lines += ["", "## Rules made suspect", ""]
        lines += [f"- {s['rule']} ({s['file']}:{s['line']}): {', '.join(s['clauses'])}"
                  + (" (reviewed since)" if s.get("reviewed") else "") for s in diff.suspect]
    imp = diff.impact
    if imp:
        lines += ["", "## Impact of regenerating (dry run)", "",
                  f"- generated validators: {len(imp['validators'])}",
                  *[f"  - `{v}`" for v in imp["validators"]],
                  f"- scenarios: {len(imp['scenarios'])}",
                  *[f"  - {s}" for s in imp["scenarios"]],
                  f"- report rows: {len(imp['report_rows'])}"]
    return "\n".join(lines) + "\n"


def to_html(diff: Diff) -> str:
    import html as h

    rows = []
    for c in diff.changes:
        label = "replaced" if c.replaced else c.kind
        if c.words and not c.replaced:
            body = " ".join(h.escape(o) if op == "equal" else
                            (f"<del>{h.escape(o)}</del>" if o else "") + (f"<ins>{h.escape(n)}</ins>" if n else "")
                            for op, o, n in c.words)
        else:
            body = (f"<del>{h.escape(c.old_text)}</del> " if c.old_text else "") + \
                   (f"<ins>{h.escape(c.new_text)}</ins>" if c.new_text else "")
        marks = "".join(f"<span class='hl'>{h.escape(x['category'])}: {h.escape(', '.join(x['old']) or '—')} → "
                        f"{h.escape(', '.join(x['new']) or '—')}</span>" for x in c.highlights)
        ids = h.escape(" → ".join(i for i in (c.old_id, c.new_id) if i) if c.old_id != c.new_id else c.new_id)
        rows.append(f"<tr class='{label}'><td>{h.escape(label)}</td><td>{ids}</td><td>{marks}{body}"
                    f"{'<p><em>' + h.escape(c.note) + '</em></p>' if c.note else ''}</td></tr>")
    suspect = "".join(f"<li>{h.escape(s['rule'])}: {h.escape(', '.join(s['clauses']))}"
                      f"{' (reviewed since)' if s.get('reviewed') else ''}</li>" for s in diff.suspect)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{h.escape(diff.document)} {h.escape(diff.old)} → {h.escape(diff.new)}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:24px}}table{{border-collapse:collapse;width:100%}}
td{{border:1px solid #ccc;padding:4px 6px;vertical-align:top}}del{{background:#ffebe9}}ins{{background:#dafbe1;text-decoration:none}}
.hl{{display:inline-block;background:#fff8c5;border-radius:8px;padding:0 6px;margin:0 4px 4px 0;font-size:12px}}
tr.added td:first-child{{color:#116329}}tr.removed td:first-child,tr.replaced td:first-child{{color:#82071e}}</style></head>
<body><h1>{h.escape(diff.document)} {h.escape(diff.old)} → {h.escape(diff.new)}</h1>
<table><tr><th>Change</th><th>Clause</th><th>Text</th></tr>{''.join(rows)}</table>
<h2>Rules made suspect</h2><ul>{suspect or '<li>none</li>'}</ul></body></html>
"""


def history(current: Catalogue, others: list[Catalogue]) -> dict[str, list[dict]]:
    """Per clause of the current version: how it reads in each other version of the document —
    same, changed, renumbered or relabelled (with its id there), absent, or unknown (a partial
    version that does not give it)."""
    from .sources import version_key

    out: dict[str, list[dict]] = {}
    for other in sorted(others, key=lambda c: version_key(c.version)):
        older = version_key(other.version) < version_key(current.version)
        d = compare(other, current) if older else compare(current, other)
        by_current = {(c.new_id if older else c.old_id): c for c in d.changes}
        for e in current.entries:
            if e.kind == "heading":
                continue
            c = by_current.get(e.id)
            there = (c.old_id if older else c.new_id) if c else None
            if c is None:
                given = other.get(e.id) is not None
                status, there = ("same", e.id) if given or not other.partial else ("unknown", None)
            elif (older and c.kind == ADDED) or (not older and c.kind == REMOVED):
                status = "absent"
            elif there is None:
                status = "unknown"
            else:
                status = "replaced" if c.replaced else (c.kind if c.kind != CHANGED else "changed")
            out.setdefault(e.id, []).append({"version": other.version, "status": status, "id": there})
    return out
