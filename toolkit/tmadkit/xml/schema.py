"""The SMETS1 Migration Schema (TMAD Clause 10; Table 5.9 step 5.9.1 "valid against the
SMETS1 Migration Schema").

The XSD is tmadkit's reconstruction from the TMAD text, ``spec/schemas/smets1-migration.xsd``
(the real "SMETS1 Migration Schema v1.2_MOC_F" is not public); every modelling decision is
in ``spec/schemas/README.md``.

* :func:`validate` is the hot path: libxml2 through lxml, fine for 300 MB files.  It returns
  a list of :class:`SchemaError` (line, element path, element named), never raises for bad
  input.
* :func:`xmlschema_schema` / :func:`explain` use the pure-Python ``xmlschema`` package, for
  decoding and for its wordier messages.  Slow: never on the hot path.
* ``unsigned=True`` selects the *unsigned profile*: the same schema with ds:Signature made
  optional, derived in memory (README D11).  For documents that are about to be signed;
  received files are always validated with the signed profile.
* ``accept_aliases=True`` accepts the TMAD's other spelling of the file counters
  (``MCFCCounter`` for ``MCFCounter`` ... ; README D1, tmad-text-defects #1) with a warning.
"""
from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Union

from lxml import etree

from .. import paths

NAMESPACE = "urn:tmadkit:smets1-migration:1.2"
"""tmadkit's choice; the real schema's namespace is unknown (README D15)."""
DS_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
XS_NAMESPACE = "http://www.w3.org/2001/XMLSchema"
SCHEMA_FILENAME = "smets1-migration.xsd"
CLAUSE = "TMAD:T5.9/5.9.1"

ROOT_ELEMENTS: dict[str, etree.QName] = {
    "MCF": etree.QName(NAMESPACE, "MigrationCommon"),
    "MGF": etree.QName(NAMESPACE, "MigrationGroup"),
    "MEF": etree.QName(NAMESPACE, "MigrationGroupEncrypted"),
    "MVF": etree.QName(NAMESPACE, "MigrationValidation"),
    "SCF": etree.QName(NAMESPACE, "S1SPOutcomes"),
    "COF": etree.QName(NAMESPACE, "CommissioningOutcomes"),
}
"""File type (Table 10.2 FileType value) -> root element of the file (Table 10.2 "XML
structure within file")."""

DECRYPTED = "DECRYPTED"
DECRYPTED_ROOT = etree.QName(NAMESPACE, "DecryptedS1SPGroupInformation")
"""Plaintext of EncryptedS1SPGroupInformation (Table 11.2.1, Clause 5.23(b)); not a file."""

STRUCTURES: dict[str, etree.QName] = {**ROOT_ELEMENTS, DECRYPTED: DECRYPTED_ROOT}
FILE_TYPE_BY_ROOT: dict[str, str] = {q.text: k for k, q in STRUCTURES.items()}

COUNTER_ALIASES: dict[str, str] = {
    "MCFCCounter": "MCFCounter",   # Definitions "Migration Header", 5.9.5, 10.2 file name
    "MGFCCounter": "MGFCounter",   # 5.9.6
    "MEFCCounter": "MEFCounter",   # 5.9.7
    "MVFCCounter": "MVFCounter",   # Table 10.1 row, 5.9.8
    "SCFCCounter": "SCFCounter",   # 5.9.9
}
"""Other spelling in the TMAD -> element name in the schema (README D1)."""

Doc = Union[etree._ElementTree, etree._Element, bytes, str, Path]


@dataclass(frozen=True)
class SchemaError:
    """One problem found by :func:`validate` or :func:`explain`.

    ``kind``: "schema" (XSD validation), "root" (not the structure expected for the file
    type), "alias" (a counter alias was accepted; severity "warning"), or an input kind
    from :mod:`tmadkit.xml.safe` ("doctype", "not-well-formed", "truncated", ...).
    ``element`` is the local name of the element the message is about (``ds:`` prefixed for
    XML Signature elements); ``expected`` the element names the validator expected there.
    """

    message: str
    line: int | None = None
    column: int | None = None
    path: str | None = None
    element: str | None = None
    attribute: str | None = None
    expected: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "schema"
    severity: str = "error"
    file: str | None = None
    clause: str = CLAUSE

    def __str__(self) -> str:
        place = self.file or ""
        if self.line:
            place = f"{place}:{self.line}" if place else f"line {self.line}"
            if self.column:        # as tmadkit.xml.safe words a place (libxml2 gives one for few schema errors)
                place += f" at column {self.column}"
        parts = [p for p in (place, self.path) if p]
        head = ": ".join(parts)
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{head}: {tag}{self.message} [{self.clause}]" if head else \
            f"{tag}{self.message} [{self.clause}]"


# --------------------------------------------------------------------------- loading

def schema_dir() -> Path:
    return paths.spec_dir() / "schemas"


def schema_path() -> Path:
    return schema_dir() / SCHEMA_FILENAME


def _schema_tree(path: Path, unsigned: bool) -> etree._ElementTree:
    # Our own, trusted file; still no network, no DTD.  Parsed from the path so that the
    # relative schemaLocation of the xmldsig import resolves next to it.
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    tree = etree.parse(str(path), parser)
    if unsigned:
        for el in tree.iter(f"{{{XS_NAMESPACE}}}element"):
            if el.get("ref") == "ds:Signature":
                el.set("minOccurs", "0")
    return tree


@lru_cache(maxsize=None)
def _compile(path: str, unsigned: bool) -> etree.XMLSchema:
    return etree.XMLSchema(_schema_tree(Path(path), unsigned))


def load_schema(unsigned: bool = False) -> etree.XMLSchema:
    """The compiled schema (cached).  ``unsigned=True``: ds:Signature optional (README D11)."""
    return _compile(str(schema_path()), unsigned)


_local = threading.local()


def _thread_schema(unsigned: bool) -> etree.XMLSchema:
    # An XMLSchema object keeps its error_log on itself, so concurrent validations with
    # one object would mix their errors: each thread gets its own compiled copy.
    key = (str(schema_path()), unsigned)
    cache = getattr(_local, "schemas", None)
    if cache is None:
        cache = _local.schemas = {}
    if key not in cache:
        cache[key] = etree.XMLSchema(_schema_tree(Path(key[0]), unsigned))
    return cache[key]


@lru_cache(maxsize=None)
def _xmlschema(path: str, unsigned: bool):
    import xmlschema  # pure Python, slow to import and to build: only when asked for

    # allow="local": imports may only be local files (no network).
    if not unsigned:
        return xmlschema.XMLSchema10(path, allow="local")
    # The unsigned profile is built from text (xmlschema parses with its own ElementTree,
    # so not from an lxml tree).  No base_url: xmlschema would also resolve *instance*
    # file names against it; the xmldsig import is made absolute instead.
    tree = _schema_tree(Path(path), unsigned=True)
    for imp in tree.iter(f"{{{XS_NAMESPACE}}}import"):
        loc = imp.get("schemaLocation")
        if loc:
            imp.set("schemaLocation", (Path(path).parent / loc).resolve().as_uri())
    return xmlschema.XMLSchema10(etree.tostring(tree, encoding="unicode"), allow="local")


def xmlschema_schema(unsigned: bool = False):
    """The same schema as an ``xmlschema.XMLSchema10`` (decoding, friendly messages)."""
    return _xmlschema(str(schema_path()), unsigned)


# --------------------------------------------------------------------------- helpers

_CLARK = re.compile(r"\{([^}]*)\}([\w.-]+)")
_ELEMENT = re.compile(r"^Element '([^']+)'")
_ATTRIBUTE = re.compile(r"attribute '([^']+)'")
_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")


def _short(clark: str) -> str:
    """'{ns}Local' -> 'Local' for this schema, 'ds:Local' for XML Signature."""
    m = _CLARK.fullmatch(clark.strip())
    if not m:
        return clark.strip()
    ns, local = m.groups()
    return f"ds:{local}" if ns == DS_NAMESPACE else local if ns == NAMESPACE else clark.strip()


def _friendly(message: str) -> str:
    return _CLARK.sub(lambda m: _short(m.group(0)), message).strip()


def element_path(el: etree._Element) -> str:
    """/MigrationCommon/SMETS1Installation[2]/ESMEDetail/ImportMPAN (index only when needed)."""
    steps = []
    while el is not None:
        if not isinstance(el.tag, str):          # comment / PI: not on element paths
            el = el.getparent()
            continue
        name = _short(el.tag) if el.tag.startswith("{") else el.tag
        parent = el.getparent()
        if parent is not None:
            same = [s for s in parent if s.tag == el.tag]
            if len(same) > 1:
                name += f"[{same.index(el) + 1}]"
        steps.append(name)
        el = parent
    return "/" + "/".join(reversed(steps))


def _resolve(root: etree._Element, xpath: str | None) -> etree._Element | None:
    if not xpath:
        return None
    tree = root.getroottree()
    try:
        found = tree.xpath(xpath, namespaces={"ds": DS_NAMESPACE, "m": NAMESPACE})
    except etree.XPathError:
        return None
    return found[0] if found and isinstance(found[0], etree._Element) else None


def _from_log(entry, root: etree._Element, file: str | None) -> SchemaError:
    msg = entry.message or ""
    m = _ELEMENT.search(msg)
    element = _short(m.group(1)) if m else None
    a = _ATTRIBUTE.search(msg)
    e = _EXPECTED.search(msg)
    expected = tuple(_short(x) for x in e.group(1).split(", ")) if e else ()
    el = _resolve(root, getattr(entry, "path", None))
    path = element_path(el) if el is not None else getattr(entry, "path", None)
    return SchemaError(
        message=_friendly(msg), line=entry.line or None, column=entry.column or None,
        path=path, element=element, attribute=a.group(1) if a else None,
        expected=expected, kind="schema", file=file)


def _parse(doc: Doc) -> tuple[etree._Element, bool, str | None]:
    """(root element, whether we own the tree, file name).  Raises XMLInputError."""
    if isinstance(doc, etree._ElementTree):
        return doc.getroot(), False, doc.docinfo.URL
    if isinstance(doc, etree._Element):
        return doc, False, doc.getroottree().docinfo.URL
    from . import safe          # hardened parser: no DTD, no PIs, UTF-8 only, huge_tree

    if isinstance(doc, (bytes, bytearray, memoryview)):
        return safe.parse_bytes(bytes(doc)).getroot(), True, None
    if isinstance(doc, (str, Path)):
        return safe.parse_file(doc).getroot(), True, str(doc)
    raise TypeError(f"validate() takes a tree, an element, bytes or a file name, not {type(doc).__name__}")


def _input_error(exc) -> SchemaError:
    # InputError's text is "file:line at column N [clause]: message"; SchemaError prints the
    # place and clause itself, so keep only the message.
    msg, clause = str(exc), getattr(exc, "clause", None)
    if clause and f"[{clause}]: " in msg:
        msg = msg.split(f"[{clause}]: ", 1)[1]
    return SchemaError(message=msg,
                       line=getattr(exc, "line", None), column=getattr(exc, "column", None),
                       kind=getattr(exc, "kind", "input"), file=getattr(exc, "file", None),
                       clause=getattr(exc, "clause", None) or CLAUSE)


def _check_structure(root: etree._Element, file_type: str | None,
                     file: str | None) -> tuple[list[SchemaError], bool]:
    """Root checks.  Returns (errors, whether schema validation is worth running)."""
    tag = root.tag if isinstance(root.tag, str) else ""
    local = etree.QName(tag).localname if tag else str(root.tag)
    line = root.sourceline
    errors: list[SchemaError] = []
    if tag not in FILE_TYPE_BY_ROOT:
        known = {q.localname for q in STRUCTURES.values()}
        if local in known:
            ns = etree.QName(tag).namespace
            hint = (f"root element {local} is in namespace {ns!r}" if ns else
                    f"root element {local} has no namespace") + \
                   f"; this schema's elements are in {NAMESPACE!r} (tmadkit's choice, " \
                   "the real schema's namespace is unknown: spec/schemas/README.md D15)"
        else:
            hint = (f"root element {local} is not a SMETS1 Migration Schema structure; "
                    "expected one of " + ", ".join(sorted(q.localname for q in STRUCTURES.values())))
        errors.append(SchemaError(message=hint, line=line, path="/" + local, element=local,
                                  kind="root", file=file))
        return errors, False
    if file_type is not None:
        want = STRUCTURES[file_type]
        if tag != want.text:
            errors.append(SchemaError(
                message=f"file type {file_type} must contain a {want.localname} structure "
                        f"(Table 10.2), not {local}",
                line=line, path="/" + local, element=local, expected=(want.localname,),
                kind="root", file=file, clause="TMAD:T10.2"))
    return errors, True


def _apply_aliases(root: etree._Element, owned: bool,
                   file: str | None) -> tuple[etree._Element, list[SchemaError]]:
    hits = [el for el in root.iter()
            if isinstance(el.tag, str) and el.tag.startswith("{" + NAMESPACE + "}")
            and etree.QName(el).localname in COUNTER_ALIASES]
    if not hits:
        return root, []
    warnings = [SchemaError(
        message=f"{etree.QName(el).localname} read as {COUNTER_ALIASES[etree.QName(el).localname]}: "
                "the TMAD spells the counter both ways (tmad-text-defects #1); the schema "
                "uses the Table 10.1 / 10.2 spelling (spec/schemas/README.md D1)",
        line=el.sourceline, path=element_path(el), element=etree.QName(el).localname,
        kind="alias", severity="warning", file=file, clause="TMAD:T10.1") for el in hits]
    if not owned:
        # Never rename in a caller's tree: validate a copy (line numbers are kept).
        root = copy.deepcopy(root)
        hits = [el for el in root.iter()
                if isinstance(el.tag, str) and el.tag.startswith("{" + NAMESPACE + "}")
                and etree.QName(el).localname in COUNTER_ALIASES]
    for el in hits:
        el.tag = f"{{{NAMESPACE}}}{COUNTER_ALIASES[etree.QName(el).localname]}"
    return root, warnings


# --------------------------------------------------------------------------- API

def file_type_of(doc: etree._ElementTree | etree._Element) -> str | None:
    """'MCF' ... 'COF' or 'DECRYPTED' from the root element, None if not a schema structure."""
    root = doc.getroot() if isinstance(doc, etree._ElementTree) else doc
    return FILE_TYPE_BY_ROOT.get(root.tag) if isinstance(root.tag, str) else None


def validate(doc: Doc, *, file_type: str | None = None, unsigned: bool = False,
             accept_aliases: bool = False, max_errors: int | None = 1000) -> list[SchemaError]:
    """Validate against the SMETS1 Migration Schema with lxml / libxml2.

    ``doc``: an lxml tree or element (as returned by :mod:`tmadkit.xml.safe`), or bytes /
    a file name, which are parsed with the hardened parser of :mod:`tmadkit.xml.safe`
    (input that parser refuses comes back as one SchemaError of that kind).
    ``file_type``: "MCF", "MGF", "MEF", "MVF", "SCF", "COF" (Table 10.2) or "DECRYPTED";
    when given, the root must be that structure.  Pass it for received files: without it
    any of the seven structures is accepted, including DecryptedS1SPGroupInformation.
    Returns the problems found, errors and warnings (``severity``); the document is valid
    when no entry has severity "error".  At most ``max_errors`` errors are itemised.
    """
    if file_type is not None and file_type not in STRUCTURES:
        raise ValueError(f"unknown file type {file_type!r}; expected one of {sorted(STRUCTURES)}")
    from ..errors import InputError

    try:
        root, owned, file = _parse(doc)
    except InputError as exc:
        return [_input_error(exc)]
    problems, worth_validating = _check_structure(root, file_type, file)
    if not worth_validating:
        return problems
    if accept_aliases:
        root, warnings = _apply_aliases(root, owned, file)
        problems.extend(warnings)
    schema = _thread_schema(unsigned)
    if schema.validate(root):
        return problems
    log = schema.error_log
    shown = 0
    for entry in log:
        if max_errors is not None and shown >= max_errors:
            problems.append(SchemaError(
                message=f"{len(log) - shown} further schema errors not listed",
                kind="schema", file=file))
            break
        problems.append(_from_log(entry, root, file))
        shown += 1
    return problems


def is_valid(doc: Doc, **kwargs) -> bool:
    """True when :func:`validate` reports no error (warnings allowed)."""
    return not any(p.severity == "error" for p in validate(doc, **kwargs))


def explain(doc: Doc, *, unsigned: bool = False) -> list[SchemaError]:
    """Validate with ``xmlschema`` for its more descriptive reasons.  Slow: for reports on
    documents already known to be invalid, never for bulk validation."""
    from ..errors import InputError

    try:
        root, _owned, file = _parse(doc)
    except InputError as exc:
        return [_input_error(exc)]
    out = []
    for err in xmlschema_schema(unsigned).iter_errors(root):
        elem = getattr(err, "elem", None)
        name = _short(elem.tag) if elem is not None and isinstance(getattr(elem, "tag", None), str) else None
        line = getattr(err, "sourceline", None)
        if line is None and elem is not None:
            line = getattr(elem, "sourceline", None)
        out.append(SchemaError(message=_friendly(err.reason or err.message), line=line,
                               path=err.path, element=name, kind="schema", file=file))
    return out
