"""Rule files: load, validate against rules/rule.schema.json, and model.

Errors name the file, the line and the JSON-Schema path, because a rule author
fixing a 300-line table file needs to land on the exact cell.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import yaml

from . import paths
from .errors import InputError
from .yamlload import StrictLoader

if TYPE_CHECKING:
    import jsonschema

SCHEMA_FILE = "rule.schema.json"


@dataclass(frozen=True)
class Citation:
    id: str
    fingerprint: str
    quote: str


@dataclass(frozen=True)
class Witness:
    id: str
    expect: str | dict           # a verdict, or {version: verdict} where it differs by version
    facts: dict
    description: str = ""

    def expect_for(self, version: str | None) -> str | None:
        """The verdict expected under a document version (None: not stated for that version)."""
        if isinstance(self.expect, str):
            return self.expect
        return self.expect.get(version) if version else None

    @property
    def verdicts(self) -> set[str]:
        return {self.expect} if isinstance(self.expect, str) else set(self.expect.values())


@dataclass
class Rule:
    id: str
    title: str
    document: str
    clauses: list[Citation]
    actor: str
    testable: bool
    file: str                      # repo-relative path of the rule file
    line: int
    reason: str | None = None
    applies_to: dict = field(default_factory=dict)
    outcome: dict | None = None
    predicate: dict | None = None
    witnesses: list[Witness] = field(default_factory=list)
    disputed: dict | None = None
    notes: str | None = None
    values: dict = field(default_factory=dict)   # name -> {version: value}

    @property
    def versioned(self) -> bool:
        """True when the rule's value or its witnesses' verdicts differ by version."""
        return bool(self.values) or any(isinstance(w.expect, dict) for w in self.witnesses)

    @property
    def clause_ids(self) -> list[str]:
        return [c.id for c in self.clauses]

    @property
    def reading(self) -> str | None:
        """The rule that names the reading this rule is part of (None if not disputed): itself,
        unless its reading needs several rules and it names the first in `same_reading_as`."""
        return self.disputed.get("same_reading_as", self.id) if self.disputed else None

    @property
    def slug(self) -> str:
        """Python identifier for the generated check function."""
        return "check_" + "".join(ch if ch.isalnum() else "_" for ch in self.id.lower())


@dataclass
class RuleFile:
    path: Path
    relpath: str
    document: str
    title: str
    clause: str | None
    description: str
    rules: list[Rule]
    sha256: str
    procedure: dict | None = None

    @property
    def stem(self) -> str:
        """Stable name of the artefacts generated from this file: <document-dir>/<file-stem>."""
        return self.relpath.removeprefix("rules/").removesuffix(".yaml")


@dataclass
class RuleSet:
    files: list[RuleFile]

    def __iter__(self) -> Iterator[Rule]:
        for f in self.files:
            yield from f.rules

    def by_id(self) -> dict[str, Rule]:
        out: dict[str, Rule] = {}
        for rule in self:
            out.setdefault(rule.id, rule)
        return out

    def duplicates(self) -> list[tuple[Rule, Rule]]:
        seen: dict[str, Rule] = {}
        dups = []
        for rule in self:
            if rule.id in seen:
                dups.append((seen[rule.id], rule))
            else:
                seen[rule.id] = rule
        return dups


# --- YAML with line numbers and no silent duplicate keys ---------------------------

# The one YAML loader of the toolkit (duplicate keys refused, timestamps kept as text).
_Loader = StrictLoader


def _compose_and_load(text: str) -> tuple[yaml.Node | None, object]:
    """The node tree (for line numbers) and the data built from it: one parse, not two."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, (None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()


MAX_PATHS = 1_000_000    # the largest rule file has about 11,000; an alias bomb has millions


class _TooLarge(Exception):
    pass


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every JSON path in the document to its 1-based line."""
    out = {} if out is None else out
    if len(out) >= MAX_PATHS:     # aliases multiply paths: refuse before memory runs out
        raise _TooLarge()
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out)
    return out


def _line_for(lines: dict[tuple, int], path: tuple) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


@lru_cache(maxsize=None)
def _validator(schema_path: str) -> jsonschema.Draft202012Validator:
    """The rule-file validator; sibling *.schema.json files are resolvable by their $id."""
    import jsonschema    # here, not at the top: run-time rule loading trusts generated bytes
    import referencing

    resources = []
    for path in sorted(Path(schema_path).parent.glob("*.schema.json")):
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        jsonschema.Draft202012Validator.check_schema(doc)
        resources.append((doc["$id"], referencing.Resource.from_contents(doc)))
    registry = referencing.Registry().with_resources(resources)
    schema = dict(resources)[json.loads(Path(schema_path).read_text(encoding="utf-8"))["$id"]].contents
    return jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())


def schema_path() -> Path:
    return paths.rules_dir() / SCHEMA_FILE


def _relpath(path: Path) -> str:
    try:
        return path.resolve().relative_to(paths.root()).as_posix()
    except ValueError:
        return path.as_posix()


def load_file(path: Path, *, validated_sha256: str | None = None) -> RuleFile:
    """One rule file, checked against rules/rule.schema.json unless its bytes are exactly those
    whose SHA-256 is `validated_sha256` (the generator validated them and recorded the digest
    in generated/manifest.json: the same bytes cannot fail the same schema)."""
    return _load_bytes(path, _relpath(path), path.read_bytes(), validated_sha256)


def _load_bytes(path: Path, rel: str, raw: bytes, validated_sha256: str | None) -> RuleFile:
    data, lines = _parse(raw, rel)
    digest = hashlib.sha256(raw).hexdigest()
    if validated_sha256 is None or digest != validated_sha256:
        _check_schema(data, lines, rel)
    return _construct(path, rel, data, lambda p: _line_for(lines, p), digest)


def _parse(raw: bytes, rel: str) -> tuple[dict, dict[tuple, int]]:
    """A rule file's bytes as YAML: the data, and the line of every JSON path in it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc.reason} at byte {exc.start})", file=rel) from None
    try:
        node, data = _compose_and_load(text)
        lines = _line_index(node) if node is not None else {}
    except RecursionError:
        raise InputError("a YAML alias is used inside its own anchor (a recursive structure)", file=rel) from None
    except _TooLarge:
        raise InputError(f"more than {MAX_PATHS:,} values once its YAML aliases are expanded (an alias bomb?)",
                         file=rel) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(f"malformed YAML: {exc.problem or exc}", file=rel, line=line) from None
    if node is None or data is None:
        raise InputError("empty rule file", file=rel)
    return data, lines


def _check_schema(data: object, lines: dict[tuple, int], rel: str) -> None:
    errors = sorted(
        _validator(str(schema_path())).iter_errors(data),
        key=lambda e: (_line_for(lines, tuple(e.absolute_path)), list(e.absolute_path).__repr__()))
    if errors:
        err = _most_specific(errors[0])
        where = "/" + "/".join(str(p) for p in err.absolute_path)
        raise InputError(f"schema: {_message(err)} (schema path {'/'.join(map(str, err.absolute_schema_path))})",
                         file=rel, line=_line_for(lines, tuple(err.absolute_path)), where=where)


def _construct(path: Path, rel: str, data: dict, line_for: Callable[[tuple], int], digest: str) -> RuleFile:
    """The RuleFile from a rule file's data, asking `line_for(json_path)` for the lines it
    names: the one construction, whether the data came from YAML or from the snapshot."""
    rules = [
        _rule(item, data["document"], rel, line_for(("rules", i)))
        for i, item in enumerate(data["rules"])
    ]
    from .smi.model import rules_from  # a state machine's transitions and refusals are rules too
    rules += rules_from(data, data["document"], rel, line_for)
    return RuleFile(path=path, relpath=rel, document=data["document"], title=data["title"],
                    clause=data.get("clause"), description=data.get("description", ""), rules=rules,
                    sha256=digest, procedure=data.get("procedure"))


def _message(error: jsonschema.ValidationError) -> str:
    """JSON Schema's words, except where they hide the rule the schema encodes."""
    path = list(error.absolute_schema_path)
    if "witnesses" in path and error.validator in ("minItems", "contains"):
        return "a testable rule needs at least one passing and one failing witness"
    if error.validator == "maxProperties" and "predicate" in path:
        return "a predicate names exactly one primitive or combinator (use all/any to combine)"
    return error.message


def _most_specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For oneOf/anyOf failures, report the deepest sub-error: it names the real mistake."""
    best = error
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
    return best if len(best.absolute_path) >= len(error.absolute_path) else error


def _rule(d: dict, document: str, rel: str, line: int) -> Rule:
    return Rule(
        id=d["id"], title=d["title"], document=document,
        clauses=[Citation(c["id"], c["fingerprint"], c["quote"]) for c in d["clauses"]],
        actor=d["actor"], testable=d["testable"], file=rel, line=line,
        reason=d.get("reason"), applies_to=d.get("applies_to", {}), outcome=d.get("outcome"),
        predicate=d.get("predicate"),
        witnesses=[Witness(w["id"], w["expect"], w["facts"], w.get("description", "")) for w in d.get("witnesses", [])],
        disputed=d.get("disputed"), notes=d.get("notes"), values=d.get("values", {}),
    )


# --- run time: the generator's snapshot of the rule files it parsed --------------------------

# Reading the TMAD rule files as YAML (compose, construct, index every node's line) costs
# each process that validates a tenth of a second or more, and `validate` pays it twice (the
# main process and its worker).  As Python keeps a .pyc of the source it compiled, the
# generator keeps what it parsed: each run-time rule file's data and the lines the loader asked
# for, under the file's SHA-256.  Bytes that match are built from the snapshot through the same
# _construct; any other bytes are read as YAML, exactly as before.
SNAPSHOT = "generated/tmad/rules.json"
RUN_TIME_GLOB = "tmad/*.yaml"     # under rules/: the files tmad_rules() reads


class _Unrecorded(Exception):
    """The loader asked for a line the snapshot does not hold (the toolkit changed since)."""


def run_time_files(folder: Path | None = None) -> list[Path]:
    """The rule files read at run time (tmad_rules), in the order they are read."""
    return sorted((folder or paths.rules_dir()).glob(RUN_TIME_GLOB))


def snapshot_entry(path: Path) -> dict | None:
    """What the snapshot holds for one rule file: its path, SHA-256, parsed data and every line
    the loader asks for (as [path, line]); None when the data would not survive a JSON round
    trip exactly (run time then reads that file's YAML)."""
    rel = _relpath(path)
    raw = path.read_bytes()
    data, lines = _parse(raw, rel)
    asked: dict[tuple, int] = {}

    def recording(p: tuple) -> int:
        return asked.setdefault(p, _line_for(lines, p))

    digest = hashlib.sha256(raw).hexdigest()
    _construct(path, rel, data, recording, digest)
    entry = {"path": rel, "sha256": digest, "data": data,
             "lines": [[list(p), line] for p, line in asked.items()]}
    try:
        back = json.loads(json.dumps(entry, ensure_ascii=False))
    except (TypeError, ValueError):      # not JSON at all (a set, a date, a tuple key...)
        return None
    return entry if json_identical(back, entry) else None


def json_identical(a: object, b: object) -> bool:
    """Equal with the same types all the way down, dict keys and key order included: == alone
    would take True for 1, 1.0 for 1 and {1: x} for itself where JSON gives back {"1": x}."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (len(a) == len(b)
                and all(json_identical(ka, kb) and json_identical(a[ka], b[kb]) for ka, kb in zip(a, b)))
    if isinstance(a, list):
        return len(a) == len(b) and all(json_identical(x, y) for x, y in zip(a, b))
    return a == b


def _snapshot() -> dict[str, dict]:
    """{relpath: entry} from the generator's snapshot; empty if it is missing (not generated yet)
    or not what the generator writes (a damaged file is `generate --check`'s to report)."""
    try:
        with open(paths.root() / SNAPSHOT, encoding="utf-8") as fh:
            doc = json.load(fh)
        return {e["path"]: e for e in doc["files"]}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def _from_snapshot(path: Path, rel: str, entry: dict, digest: str) -> RuleFile:
    recorded = {tuple(p): line for p, line in entry["lines"]}

    def line_for(p: tuple) -> int:
        try:
            return recorded[p]
        except KeyError:
            raise _Unrecorded(p) from None

    return _construct(path, rel, entry["data"], line_for, digest)


def load_files_as_generated(files: list[Path]) -> list[RuleFile]:
    """Rule files read at run time (validation, naming).  Bytes the generator parsed (their
    SHA-256 is in generated/tmad/rules.json) are built from its snapshot, without YAML; other
    bytes are read as YAML, and the schema check is skipped only for bytes the generator
    validated, by the SHA-256 it recorded in generated/manifest.json (reading a rule file
    through jsonschema takes a fifth of a second; changed bytes are checked again)."""
    snapshot = _snapshot()
    validated: dict[str, str] | None = None
    out = []
    for p in files:
        rel = _relpath(p)
        raw = p.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        entry = snapshot.get(rel)
        if entry is not None and entry.get("sha256") == digest:
            try:
                out.append(_from_snapshot(p, rel, entry, digest))
                continue
            # a line the generator did not record, or an entry not as the generator writes it:
            # YAML gives the right answer (and the same error, if the construction itself fails)
            except (_Unrecorded, LookupError, TypeError, ValueError, AttributeError):
                pass
        if validated is None:
            validated = _validated_digests()
        out.append(_load_bytes(p, rel, raw, validated.get(rel)))
    return out


def _validated_digests() -> dict[str, str]:
    from .errors import TmadkitError
    from .registry import manifest

    try:
        return manifest()["rule_files"]
    except TmadkitError:        # not generated yet: every file is checked
        return {}


def tmad_rules() -> RuleSet:
    """The TMAD rule files as read at run time, once per process and rules folder: the DCC's
    procedures (Table 5.9, Table 5.10, Clause 5.10) and Table 10.2's naming all read them, and
    reading them as YAML takes a few tenths of a second."""
    return _tmad_rules(str(paths.rules_dir()))


@lru_cache(maxsize=4)
def _tmad_rules(folder: str) -> RuleSet:
    return RuleSet(load_files_as_generated(run_time_files(Path(folder))))


def rule_files(root: Path | None = None) -> list[Path]:
    base = root or paths.rules_dir()
    return sorted(p for p in base.rglob("*.yaml") if p.is_file())


def load_all(root: Path | None = None) -> RuleSet:
    return RuleSet([load_file(p) for p in rule_files(root)])
