"""Read a world directory (YAML, JSON or CSV files), validate every record, load SQLite.

Each record is validated against its table's schema in schema.json with jsonschema
(draft 2020-12) before anything is built from it; CSV cells are first converted to the
types the schema asks for (and dotted column names become nested objects), so CSV,
YAML and JSON worlds are held to the same schema and give the same store.

Validation is *decomposed* for speed, not weakened: a flat record schema (type object,
properties, required, additionalProperties: false, plus keywords that apply to the
whole record such as oneOf) is the conjunction of "the keys are allowed and present",
"each property value is valid against its subschema" and "the record is valid against
the remaining keywords".  The per-property checks are jsonschema validations of the
value, memoised per distinct value - a million registrations name a few hundred
parties, roles and dates - which is a large part of what lets a 1,000,000-MPxN world
load in under a minute (bench.py measures it).  Schemas this reasoning does not cover (patternProperties,
unevaluatedProperties) are validated whole.

Nothing is loaded half-way: everything goes into a temporary database next to the
target, which replaces the target (os.replace, atomic on POSIX) only when every file,
record and certificate has loaded.  On any error the temporary file is removed and an
InputError names the file, the line where known, the record number and the field.
"""
from __future__ import annotations

import base64
import binascii
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import yaml

from ..errors import InputError
from ..smki.certificates import parse as parse_certificate
from ..smki.registry import Registry
from ..yamlload import StrictLoader
from . import store
from .store import FieldError, World

if TYPE_CHECKING:
    import jsonschema

SCHEMA_PATH = Path(__file__).with_name("schema.json")
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".csv": "csv"}
# file stem -> record schema in $defs.  Load order: cheap, small tables first so a typo
# in parties.yaml is reported before a million registrations are read.
TABLES = {
    "world": "world",
    "parties": "party",
    "entity_ids": "entity_id",
    "central_products": "cpl_entry",
    "eligible_product_combinations": "epc_entry",
    "group_combinations": "group_combination",
    "smart_metering_inventory": "smi_device",
    "wan_contacts": "wan_contact",
    "mpan_registrations": "mpan_registration",
    "mprn_registrations": "mprn_registration",
    "trusted_cas": "trusted_ca",
    "certificates": "certificate",
}
_BATCH = 10_000
_CERT_BATCH = 10_000
_MEMO_LIMIT = 200_000  # per property; cleared when full so memory stays bounded
_ANNOTATIONS = frozenset({"description", "title", "$comment", "examples", "default", "deprecated",
                          "readOnly", "writeOnly"})
_SPLIT = frozenset({"type", "properties", "required", "additionalProperties"})
_UNSEEN = object()


@lru_cache(maxsize=1)
def schema() -> dict:
    import jsonschema   # here, not at the top: `validate` opens a loaded world and never needs it

    doc = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


# ---------------------------------------------------------------- validation


def _inline(node: Any, root: dict) -> Any:
    """Replace local $refs by their targets, so a subschema validates on its own."""
    if isinstance(node, list):
        return [_inline(x, root) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in ("enum", "const") else _inline(v, root)) for k, v in node.items() if k != "$ref"}
    if "$ref" not in node:
        return out
    ref = node["$ref"]
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported in the world schema, not {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    target = _inline(target, root)
    rest = {k: v for k, v in out.items() if k not in _ANNOTATIONS}
    return {"allOf": [target, rest]} if rest else target


def _message(err: jsonschema.ValidationError) -> str:
    alts = err.schema.get("oneOf") if err.validator == "oneOf" else None
    if alts and all(set(a) == {"required"} and len(a["required"]) == 1 for a in alts):
        return "exactly one of " + ", ".join(a["required"][0] for a in alts) + " is required"
    msg = err.message
    return msg if len(msg) <= 200 else msg[:197] + "..."


def _path(prefix: str | None, err: jsonschema.ValidationError) -> str | None:
    parts = ([prefix] if prefix else []) + [str(p) for p in err.absolute_path]
    return ".".join(parts) or None


class RecordValidator:
    """Validates records of one table against their schema (see the module docstring)."""

    def __init__(self, defname: str):
        import jsonschema

        self.schema = _inline(schema()["$defs"][defname], schema())
        s = self.schema
        self.split = (s.get("type") == "object" and "patternProperties" not in s
                      and "unevaluatedProperties" not in s
                      and s.get("additionalProperties", True) in (True, False))
        self.whole = jsonschema.Draft202012Validator(s)
        if not self.split:
            return
        self.props = {k: jsonschema.Draft202012Validator(v) for k, v in s.get("properties", {}).items()}
        self.closed = s.get("additionalProperties", True) is False
        self.allowed = frozenset(self.props)
        self.required_order = list(s.get("required", ()))
        self.required = frozenset(self.required_order)
        rest = {k: v for k, v in s.items() if k not in _SPLIT and k not in _ANNOTATIONS}
        self.residual = jsonschema.Draft202012Validator(rest) if rest else None
        # A residual made only of `required` under oneOf/anyOf/allOf/not depends on which
        # keys are present, nothing else: validate it once per key set.
        self.residual_by_keys = _presence_only(rest) if rest else False
        self.residual_memo: dict[frozenset, Any] = {}
        self.memo: dict[str, dict] = {k: {} for k in self.props}

    def validate(self, rec: Any) -> None:
        from jsonschema.exceptions import best_match   # imported once; later calls find it cached

        if not self.split:
            err = best_match(self.whole.iter_errors(rec))
            if err is not None:
                raise FieldError(_path(None, err), _message(err))
            return
        if not isinstance(rec, dict):
            raise FieldError(None, f"a record must be a mapping of field names to values, not {type(rec).__name__}")
        keys = rec.keys()
        if self.closed and not keys <= self.allowed:  # set operations: the common case stays in C
            k = next(k for k in rec if k not in self.allowed)
            raise FieldError(str(k), f"unknown field (allowed: {', '.join(self.props)})")
        if not self.required <= keys:
            raise FieldError(next(k for k in self.required_order if k not in rec), "required field is missing")
        for k, v in rec.items():
            v_ok = self.props.get(k)
            if v_ok is None:
                continue
            memo = self.memo[k]
            # Strings (nearly every value) are their own key; other scalars are keyed with
            # their type so that 1, 1.0 and True stay apart.
            key = v if type(v) is str else (type(v), v) if isinstance(v, (int, float, bool, type(None))) else None
            found = memo.get(key, _UNSEEN) if key is not None else _UNSEEN
            if found is _UNSEEN:
                if v_ok.is_valid(v):
                    found = None
                else:
                    err = best_match(v_ok.iter_errors(v))
                    found = (_path(k, err), _message(err))
                if key is not None:
                    if len(memo) >= _MEMO_LIMIT:
                        memo.clear()
                    memo[key] = found
            if found is not None:
                raise FieldError(*found)
        if self.residual is not None:
            if self.residual_by_keys:
                keys = frozenset(rec)
                if keys not in self.residual_memo:
                    self.residual_memo[keys] = best_match(self.residual.iter_errors(dict.fromkeys(keys)))
                err = self.residual_memo[keys]
            else:
                err = best_match(self.residual.iter_errors(rec))
            if err is not None:
                raise FieldError(_path(None, err), _message(err))


def _presence_only(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    for k, v in schema.items():
        if k in _ANNOTATIONS:
            continue
        if k == "required":
            continue
        if k in ("oneOf", "anyOf", "allOf"):
            if not all(_presence_only(x) for x in v):
                return False
        elif k == "not":
            if not _presence_only(v):
                return False
        else:
            return False
    return True


# ---------------------------------------------------------------- readers
# Each yields (record number, line or None, record).


_YamlLoader = StrictLoader   # duplicate keys refused, timestamps kept as text (tmadkit.yamlload)


def _yaml_line(path: Path, index: int | None, field_path: str | None) -> int | None:
    """The line of record `index` (0-based), or of its field - only computed for errors."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_YamlLoader)
    except (OSError, yaml.YAMLError):
        return None
    if isinstance(node, yaml.SequenceNode) and index is not None and index < len(node.value):
        node = node.value[index]
    line = node.start_mark.line + 1
    for part in (field_path or "").split(".") if field_path else ():
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == part:
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _read_structured(path: Path, kind: str, single: bool) -> list | dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from None
    try:
        if kind == "json":
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
        else:
            data = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    except _DuplicateKey as exc:
        raise InputError(f"not valid JSON: key {exc.args[0]!r} given twice in one object (as a YAML file's "
                         f"would be refused)", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=str(path),
                         line=mark.line + 1 if mark else None) from None
    want = dict if single else list
    if data is None and not single:
        data = []
    if not isinstance(data, want):
        raise InputError(f"must hold {'one mapping' if single else 'a list of records'}, "
                         f"not {type(data).__name__}", file=str(path))
    return data


def _csv_types(sub: dict, prefix: str = "") -> dict[str, set]:
    """Dotted column name -> the JSON types its schema allows (for CSV conversion)."""
    out: dict[str, set] = {}
    for name, s in sub.get("properties", {}).items():
        col = f"{prefix}{name}"
        s = s["allOf"][0] if "allOf" in s and "type" not in s else s
        if s.get("type") == "object" or "properties" in s:
            out.update(_csv_types(s, col + "."))
            continue
        t = s.get("type", "string")
        out[col] = set(t if isinstance(t, list) else [t])
    return out


def _convert(text: str, types: set) -> Any:
    """A CSV cell as the type its schema asks for; left as text when it does not convert,
    so the schema reports the mismatch in its own words."""
    if "string" in types or not types:
        return text
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            pass
    return text


def _read_csv(path: Path, validator: RecordValidator) -> Iterator[tuple[int, int | None, Any]]:
    types = _csv_types(validator.schema)
    try:
        fh = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if header is None:
                return
            if len(set(header)) != len(header):
                raise InputError("CSV header repeats a column name", file=str(path), line=1)
            cols = [(h, h.split("."), types.get(h, {"string"})) for h in header]
            # The common case - flat columns, all text - is one dict comprehension a row.
            plain = all(len(parts) == 1 and "string" in t for _, parts, t in cols)
            flat = all(len(parts) == 1 for _, parts, _ in cols)
            n = 0
            for row in reader:
                n += 1
                if not row:
                    raise InputError("empty line (a record needs at least one cell)", file=str(path),
                                     line=reader.line_num, where=f"record {n}")
                if len(row) > len(cols):
                    raise InputError(f"{len(row)} cells but the header has {len(cols)} columns",
                                     file=str(path), line=reader.line_num, where=f"record {n}")
                if plain:
                    yield n, reader.line_num, {h: cell for h, cell in zip(header, row) if cell != ""}
                    continue
                rec: dict[str, Any] = {}
                for (name, parts, t), cell in zip(cols, row):
                    if cell == "":
                        continue  # an empty cell is an absent field
                    value = _convert(cell, t)
                    if flat:
                        rec[name] = value
                    else:
                        d = rec
                        for p in parts[:-1]:
                            d = d.setdefault(p, {})
                        d[parts[-1]] = value
                yield n, reader.line_num, rec
        except csv.Error as exc:
            raise InputError(f"not valid CSV: {exc}", file=str(path), line=reader.line_num) from None
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8: {exc}", file=str(path)) from None


def read_records(path: Path, validator: RecordValidator) -> Iterator[tuple[int, int | None, Any]]:
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "csv":
        yield from _read_csv(path, validator)
        return
    for i, rec in enumerate(_read_structured(path, kind, single=False), 1):
        yield i, None, rec


# ---------------------------------------------------------------- discovery


def discover(world_dir: str | os.PathLike) -> dict[str, Path]:
    """table -> its file.  Data files with an unknown name are an error (a typo would
    otherwise silently leave a table empty); other files (README.md) are ignored."""
    d = Path(world_dir)
    if not d.is_dir():
        raise InputError("not a directory", file=str(d))
    found: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        if not p.is_file() or p.suffix.lower() not in SUFFIXES:
            continue
        if p.stem not in TABLES:
            raise InputError(f"not a world table (known: {', '.join(TABLES)})", file=str(p))
        if p.stem in found:
            raise InputError(f"table {p.stem!r} given twice (also {found[p.stem].name})", file=str(p))
        found[p.stem] = p
    return found


# ---------------------------------------------------------------- loading


@dataclass
class TableStats:
    table: str
    file: str
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class LoadReport:
    db: str
    tables: list[TableStats] = field(default_factory=list)
    index_seconds: float = 0.0
    total_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"db": self.db, "total_seconds": round(self.total_seconds, 3),
                "index_seconds": round(self.index_seconds, 3),
                "tables": {t.table: {"file": t.file, "records": t.records, "seconds": round(t.seconds, 3),
                                     "records_per_second": round(t.per_second) if t.seconds > 0 else None}
                           for t in self.tables}}


class _Loader:
    def __init__(self, world_dir: Path, conn: sqlite3.Connection):
        self.dir, self.conn = world_dir, conn

    def fail(self, path: Path, n: int | None, line: int | None, fld: str | None, message: str) -> InputError:
        if line is None and path.suffix.lower() in (".yaml", ".yml") and n is not None:
            line = _yaml_line(path, n - 1, fld)
        where = ", ".join(p for p in (n is not None and f"record {n}", fld and f"field {fld}") if p)
        return InputError(message, file=str(path), line=line, where=where or None)

    def records(self, table: str, path: Path) -> Iterator[tuple[int, int | None, dict]]:
        v = RecordValidator(TABLES[table])
        for n, line, rec in read_records(path, v):
            try:
                v.validate(rec)
            except FieldError as exc:
                raise self.fail(path, n, line, exc.field, exc.message) from None
            yield n, line, rec

    def table(self, table: str, path: Path) -> int:
        build = store.ROW_BUILDERS[table]
        buffers: dict[str, list] = {}
        count = 0
        for n, line, rec in self.records(table, path):
            try:
                rows = build(rec)
            except FieldError as exc:
                raise self.fail(path, n, line, exc.field, exc.message) from None
            for sql_table, row in rows:
                buf = buffers.setdefault(sql_table, [])
                buf.append((n, *row))
                if len(buf) >= _BATCH:
                    self.conn.executemany(store.insert_sql(sql_table), buf)
                    buf.clear()
            count = n
        for sql_table, buf in buffers.items():
            if buf:
                self.conn.executemany(store.insert_sql(sql_table), buf)
        return count

    def manifest(self, path: Path) -> dict:
        if SUFFIXES[path.suffix.lower()] == "csv":
            raise InputError("the world manifest is one mapping: write world.yaml or world.json", file=str(path))
        rec = _read_structured(path, SUFFIXES[path.suffix.lower()], single=True)
        try:
            RecordValidator("world").validate(rec)
            if "reference_time" in rec:
                store.field_time(rec, "reference_time")
        except FieldError as exc:
            raise self.fail(path, None, None, exc.field, exc.message) from None
        return rec

    def certificate_data(self, path: Path, n: int, line: int | None, rec: dict) -> tuple[str, bytes | str]:
        """(the field used, the certificate bytes or PEM text)."""
        if "der_base64" in rec:
            try:
                return "der_base64", base64.b64decode(rec["der_base64"], validate=True)
            except binascii.Error as exc:
                raise self.fail(path, n, line, "der_base64", f"not valid base64: {exc}") from None
        if "pem" in rec:
            return "pem", rec["pem"]
        rel = Path(rec["file"])
        target = (self.dir / rel).resolve()
        if rel.is_absolute() or not target.is_relative_to(self.dir.resolve()):
            raise self.fail(path, n, line, "file", "must be a path inside the world directory")
        try:
            return "file", target.read_bytes()
        except OSError as exc:
            raise self.fail(path, n, line, "file", f"cannot read {rel}: {exc.strerror}") from None

    def parse(self, path: Path, n: int, line: int | None, rec: dict):
        fld, data = self.certificate_data(path, n, line, rec)
        try:
            return fld, parse_certificate(data, source=f"{path.name} record {n}")
        except InputError as exc:
            raise self.fail(path, n, line, fld, _raw_message(exc)) from None

    def trusted_cas(self, path: Path, registry: Registry) -> tuple[int, list[tuple]]:
        side = []
        n = 0
        for n, line, rec in self.records("trusted_cas", path):
            fld, cert = self.parse(path, n, line, rec)
            try:
                registry.add_trusted_ca(cert)
            except InputError as exc:
                raise self.fail(path, n, line, fld, _raw_message(exc)) from None
            side.append((n, rec.get("name"), cert.subject))
        return n, side

    def certificates(self, path: Path, registry: Registry) -> tuple[int, list[tuple]]:
        seen: dict[tuple, int] = {}
        names: dict[str, int] = {}
        side, batch = [], []
        n = 0
        for n, line, rec in self.records("certificates", path):
            fld, cert = self.parse(path, n, line, rec)
            key = cert.cert_id.key
            if key in seen:  # Certificate IDs are unique by definition (TMAD Clause 2)
                raise self.fail(path, n, line, fld, f"Certificate ID {cert.cert_id} repeats record {seen[key]}")
            seen[key] = n
            name = rec.get("name")
            if name is not None:
                if name in names:
                    raise self.fail(path, n, line, "name", f"name {name!r} repeats record {names[name]}")
                names[name] = n
            revoked = rec.get("revoked_at")
            try:
                revoked_at = None if revoked is None else datetime.fromisoformat(revoked)
            except ValueError as exc:
                raise self.fail(path, n, line, "revoked_at", f"{revoked!r} is not a valid date-time: {exc}") from None
            side.append((n, name, fld, cert.cert_id.issuer_key, str(cert.serial), cert.issuer, cert.entity_id))
            batch.append((cert, revoked_at))
            if len(batch) >= _CERT_BATCH:
                registry.add_many(batch)  # each batch commits; the temp file keeps it atomic
                batch = []
        if batch:
            registry.add_many(batch)
        return n, side


def _raw_message(exc: InputError) -> str:
    """An InputError's message without the place it was formatted with."""
    prefix = str(InputError("", file=exc.file, line=exc.line, where=exc.where, clause=exc.clause))
    text = str(exc)
    return text[len(prefix):] if prefix and text.startswith(prefix) else text


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- certificates
# Parsing an Organisation Certificate (tmadkit.smki.certificates.parse) costs ~100 us,
# so 100,000 of them take as long as all the other tables together.  They are therefore
# loaded into a database file of their own - in a second process when the file is big
# and there is a second CPU - while the world tables load, and then copied across.

PARALLEL_BYTES = 4_000_000  # certificate files bigger than this load in a second process
_CERT_TABLES = ("trusted_cas", "certificates")


def _load_certificates(src: Path, files: dict[str, Path], db: Path) -> list[TableStats]:
    """Trusted CAs and certificates into `db`: the registry's tables plus the world's
    side tables naming each certificate's record."""
    loader = _Loader(src, None)
    stats, side = [], {"world_trusted_ca": [], "world_certificate": []}
    with Registry(db) as registry:
        for table in _CERT_TABLES:
            if table in files:
                t = time.perf_counter()
                fn = loader.trusted_cas if table == "trusted_cas" else loader.certificates
                n, rows = fn(files[table], registry)
                side["world_trusted_ca" if table == "trusted_cas" else "world_certificate"] += rows
                stats.append(TableStats(table, files[table].name, n, time.perf_counter() - t))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.executescript(store.DDL)
        conn.execute("BEGIN")
        for table, rows in side.items():
            conn.executemany(store.insert_sql(table), rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return stats


# The child's whole program: a fresh interpreter that imports this module normally.
_WORKER = "import sys; from tmadkit.world.load import _worker_main; sys.exit(_worker_main(sys.argv[1:]))"


def _worker_main(argv: list[str]) -> int:
    """The child process: argv is SRC DB TABLE=FILE...

    Prints one JSON line: the table stats, or the parts of an InputError (which the
    parent raises again, naming the same file, record and field).
    """
    src, db, *pairs = argv
    files = {t: Path(f) for t, f in (p.split("=", 1) for p in pairs)}
    try:
        stats = _load_certificates(Path(src), files, Path(db))
        out = {"ok": [[s.table, s.file, s.records, s.seconds] for s in stats]}
    except InputError as exc:
        out = {"error": [_raw_message(exc), exc.file, exc.line, exc.where]}
    print(json.dumps(out))
    return 0


class _CertificateJob:
    """The certificate load, inline or in a child process; result() waits for it.

    The child is a fresh `python -c _WORKER` - not multiprocessing: fork is
    unsafe in a process that may hold threads, and spawn re-imports the caller's
    __main__, which re-runs any script without a __main__ guard.
    """

    def __init__(self, src: Path, files: dict[str, Path], db: Path, parallel: bool | None):
        self.src, self.db = src, db
        self.files = {t: files[t] for t in _CERT_TABLES if t in files}
        if parallel is None:
            size = sum(p.stat().st_size for p in self.files.values())
            parallel = size > PARALLEL_BYTES and (os.cpu_count() or 1) > 1
        self.proc = None
        if parallel:
            package_root = str(Path(__file__).resolve().parents[2])  # the dir holding tmadkit/
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
            args = [sys.executable, "-c", _WORKER, str(src.absolute()),
                    str(db), *(f"{t}={p.absolute()}" for t, p in self.files.items())]
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)

    def result(self) -> list[TableStats]:
        if self.proc is None:
            return _load_certificates(self.src, self.files, self.db)
        out, err = self.proc.communicate()
        try:
            result = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            tail = (err.strip().splitlines() or [f"exit code {self.proc.returncode}"])[-1]
            raise InputError(f"certificate loading failed: {tail}", file=str(self.src)) from None
        if "error" in result:
            msg, file, line, where = result["error"]
            raise InputError(msg, file=file, line=line, where=where)
        return [TableStats(*row) for row in result["ok"]]

    def cancel(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its handle
            self.proc.communicate()


def _merge_certificates(conn: sqlite3.Connection, tmp: Path, certs_db: Path) -> None:
    """Copy the certificate database into the world's (same schemas, made by the same code)."""
    Registry(tmp).close()  # creates the registry's tables in the world file
    conn.execute("ATTACH DATABASE ? AS c", (str(certs_db),))
    conn.execute("BEGIN")
    for table in ("certificate", "trusted_ca", "world_certificate", "world_trusted_ca"):
        conn.execute(f"INSERT INTO main.{table} SELECT * FROM c.{table}")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE c")


# ---------------------------------------------------------------- the load


def load_database(world_dir: str | os.PathLike, db: str | os.PathLike, *,
                  parallel: bool | None = None) -> LoadReport:
    """Load the world in `world_dir` into the SQLite file `db`, replacing it atomically.

    parallel: load certificates in a second process (None: when the certificate files
    are big and there is a second CPU).
    """
    started = time.perf_counter()
    src = Path(world_dir)
    files = discover(src)
    target = Path(db).absolute()
    if target.is_dir():
        raise InputError("is a directory, not a database file", file=str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot create the database: {exc.strerror}", file=str(target)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    certs_db = tmp.with_suffix(".certs")
    report = LoadReport(str(target))
    conn = job = None
    try:
        if any(t in files for t in _CERT_TABLES):
            job = _CertificateJob(src, files, certs_db, parallel)
        conn = sqlite3.connect(tmp, isolation_level=None)
        # Safe only because the file is discarded on failure and fsynced before the rename.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(store.DDL)
        loader = _Loader(src, conn)
        meta = {"format": str(store.FORMAT_VERSION), "source": str(src.resolve())}

        conn.execute("BEGIN")
        if "world" in files:
            m = loader.manifest(files["world"])
            meta.update({k: str(v) for k, v in m.items() if k != "format"})
        for table in TABLES:
            path = files.get(table)
            if path is not None and table in store.ROW_BUILDERS:
                t = time.perf_counter()
                n = loader.table(table, path)
                report.tables.append(TableStats(table, path.name, n, time.perf_counter() - t))
        conn.execute("COMMIT")

        if job is not None:
            report.tables += job.result()
            _merge_certificates(conn, tmp, certs_db)

        conn.execute("BEGIN")
        conn.executemany("INSERT INTO world_source VALUES (?, ?, ?)",
                         [(s.table, s.file, s.records) for s in report.tables])
        conn.executemany("INSERT INTO world_meta VALUES (?, ?)", sorted(meta.items()))
        t = time.perf_counter()
        for stmt in store.INDEXES.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute("ANALYZE")  # lets SQLite pick the lookup indexes with real statistics
        conn.execute("COMMIT")
        report.index_seconds = time.perf_counter() - t
        conn.close()
        conn = None
        _fsync(tmp)
        os.replace(tmp, target)
        if sys.platform != "win32":
            _fsync(target.parent)
    except BaseException:
        if job is not None:
            job.cancel()
        if conn is not None:
            conn.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for p in (certs_db, certs_db.with_name(certs_db.name + "-journal")):
            p.unlink(missing_ok=True)
    report.total_seconds = time.perf_counter() - started
    return report


def load_world(world_dir: str | os.PathLike, db: str | os.PathLike | None = None) -> World:
    """Load a world and open it.  Without `db`, the database lives in a temporary
    directory that World.close() removes."""
    if db is not None:
        load_database(world_dir, db)
        return World(db)
    tmpdir = tempfile.TemporaryDirectory(prefix="tmadkit-world-")
    try:
        path = Path(tmpdir.name) / "world.sqlite"
        load_database(world_dir, path)
        return World(path, _cleanup=tmpdir)
    except BaseException:
        tmpdir.cleanup()
        raise
