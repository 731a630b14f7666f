"""Static checks of rules against the schema and the clause catalogue.

Suspect links follow Doorstop: a citation stores the fingerprint of the clause text it
was written against; when the catalogue's text changes, every rule citing it is suspect
until someone reviews it (`tmadkit review`), and `lint` fails meanwhile.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from . import catalogue as cat
from .citations import REMOVED, citing_catalogue, stale
from .errors import InputError
from .rules import Rule, RuleFile, load_file, rule_files
from .runtime.primitives import PRIMITIVES, leaves


@dataclass(frozen=True)
class Finding:
    code: str            # schema, unknown-clause, duplicate-id, no-failing-witness, suspect, quote-mismatch, ...
    file: str
    line: int | None
    message: str
    rule: str | None = None
    clause: str | None = None

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: {self.code}: {self.message}"

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def lint(catalogues: dict[str, cat.Catalogue]) -> tuple[list[RuleFile], list[Finding]]:
    findings: list[Finding] = []
    loaded: list[RuleFile] = []
    for path in rule_files():
        try:
            loaded.append(load_file(path))
        except InputError as exc:
            where = f"at {exc.where}: " if exc.where else ""
            findings.append(Finding("schema", exc.file or str(path), exc.line, where + exc.message.removeprefix("schema: ")))
    all_rules = {r.id: r for f in loaded for r in f.rules}
    seen: dict[str, Rule] = {}
    for rf in loaded:
        for rule in rf.rules:
            if rule.id in seen:
                first = seen[rule.id]
                findings.append(Finding("duplicate-id", rf.relpath, rule.line,
                                        f"rule id {rule.id} is also defined at {first.file}:{first.line}", rule.id))
            else:
                seen[rule.id] = rule
            findings.extend(_rule_findings(rule, citing_catalogue(catalogues, rule.document)))
        if rf.procedure:
            findings.extend(_procedure_findings(rf, all_rules))
        if rf.clause:
            c = catalogues.get(rf.document)
            if c is not None and rf.clause not in c:
                findings.append(Finding("unknown-clause", rf.relpath, 1, f"file clause {rf.clause} is not in the "
                                        f"{rf.document} catalogue", clause=rf.clause))
    findings.extend(unknown_readings(list(all_rules.values())))
    from .smi.lint import lint_files  # state machines: structure and BAD evidence (smi/lint.py)
    findings.extend(lint_files(loaded))
    return loaded, findings


def unknown_readings(rules: list[Rule]) -> list[Finding]:
    """A rule's `disputed.same_reading_as` must name a rule that states a reading of the same
    question: a procedure that chooses that reading runs this rule too, so a wrong name would
    apply or drop a reading without a word."""
    by_id = {r.id: r for r in rules}
    out = []
    for r in rules:
        other = (r.disputed or {}).get("same_reading_as")
        o = by_id.get(other)
        if other and (o is None or not o.disputed or o.disputed["question"] != r.disputed["question"]
                      or o.disputed.get("same_reading_as")):
            out.append(Finding("unknown-reading", r.file, r.line, f"{r.id}: same_reading_as names {other}, which "
                               f"does not state a reading of {r.disputed['question']}", r.id))
    return out


def _rule_findings(rule: Rule, catalogue: cat.Catalogue | None) -> list[Finding]:
    out: list[Finding] = []
    f = lambda code, msg, clause=None: out.append(Finding(code, rule.file, rule.line, msg, rule.id, clause))  # noqa: E731
    if catalogue is None:
        f("unknown-document", f"no catalogue for document {rule.document}")
        return out
    written = {c.id: c.fingerprint for c in rule.clauses}
    for cid, why in stale(rule.clauses, catalogue):      # the one test of suspect (citations.py)
        if why == REMOVED:
            f("unknown-clause", f"{rule.id} cites {cid}, which is not in the {rule.document} "
                                f"{catalogue.version} catalogue", cid)
        else:
            f("suspect", f"{rule.id} cites {cid}, whose text changed since the rule was reviewed "
                         f"(sha256 {written[cid][:12]}… → {catalogue.get(cid).fingerprint[:12]}…); review it with "
                         f"`tmadkit review --rule {rule.id}`", cid)
    for c in rule.clauses:
        entry = catalogue.get(c.id)
        if entry is not None and cat.normalise(c.quote) not in entry.text:
            f("quote-mismatch", f"{rule.id}: the quote for {c.id} is not verbatim text of that clause", c.id)
    if rule.testable:
        expects = set().union(*(w.verdicts for w in rule.witnesses)) if rule.witnesses else set()
        if "fail" not in expects:
            f("no-failing-witness", f"{rule.id} has no failing witness: nothing proves its check can fail")
        if "pass" not in expects:
            f("no-passing-witness", f"{rule.id} has no passing witness")
        out.extend(_version_gaps(rule))
        ids = [w.id for w in rule.witnesses]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            f("duplicate-witness", f"{rule.id} has two witnesses named {dup}")
        for name in _primitive_names(rule.predicate or {}):
            if name not in PRIMITIVES:
                f("unknown-primitive", f"{rule.id} uses unknown primitive {name}")
    return out


def _version_gaps(rule: Rule) -> list[Finding]:
    """A version the rule applies to (sources.rule_versions) must have its values and at least one
    witness verdict: otherwise its check errs for that version and its Examples table is empty."""
    from .sources import rule_versions

    out = []
    for v in rule_versions(rule):
        missing = sorted(name for name, by_version in rule.values.items() if v not in by_version)
        if missing:
            stated = sorted({s for by_version in rule.values.values() for s in by_version})
            out.append(Finding("version-gap", rule.file, rule.line,
                               f"{rule.id} applies to {rule.document} {v} but states no {', '.join(missing)} for it "
                               f"(it states {', '.join(stated)}): state them, or bound the rule with "
                               f"applies_to.versions", rule.id))
        if rule.witnesses and all(w.expect_for(v) is None for w in rule.witnesses):
            out.append(Finding("version-gap", rule.file, rule.line,
                               f"{rule.id} applies to {rule.document} {v} but no witness states a verdict for it",
                               rule.id))
    return out


def _procedure_findings(rf: RuleFile, rules: dict[str, Rule]) -> list[Finding]:
    """Every step names rules that exist; every reading names a disputed rule of its question."""
    from fnmatch import fnmatchcase

    out = []
    for step in rf.procedure["steps"]:
        for pattern in step["rules"]:
            if not any(fnmatchcase(rid, pattern) for rid in rules):
                out.append(Finding("procedure", rf.relpath, 1, f"procedure {rf.procedure['id']} step {step['step']}: "
                                   f"no rule matches {pattern}"))
    for question, rid in rf.procedure.get("readings", {}).items():
        rule = rules.get(rid)
        if rule is None or not rule.disputed or rule.disputed["question"] != question:
            out.append(Finding("procedure", rf.relpath, 1, f"procedure {rf.procedure['id']}: reading for "
                               f"{question} names {rid}, which is not a disputed rule of that question"))
    return out


def _primitive_names(pred: dict) -> list[str]:
    return [name for name, _ in leaves(pred)]
