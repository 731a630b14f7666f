"""Witnesses that describe files become real, signed files.

A witness for a file-level rule says `file: {build: <make-file spec>, tamper: <op>}`, and
may add `edit: {select: <XPath>, text: <value>}` to set element text and re-sign.  Before
the check runs, the file is built and signed with a test PKI, tampered with, and wrapped in
the same lazy facts a live Authenticator uses, so a witness exercises the real parser, XSD,
signature and certificate code, not a description of their results.

The witness PKI is created once per process, in a private temporary directory that is
removed at exit; its clock is fixed (WITNESS_TIME) so certificate validity is deterministic.

Witnesses of the Common Validation Checks (Table 5.10, Clauses 5.8 and 5.12) say
`world: example`: the facts then carry, at `context.world`, spec/world/example loaded into a
World whose certificate registry also holds every certificate of the witness PKI (so an
installation may name either the example world's certificates or the witness PKI's, and an
MCF built by `files.build` - signed with, and naming, witness PKI certificates - checks
against the same reference data).  Certificate IDs under any `certificates` mapping may be
written as a name: `NULL` (the Null Certificate ID), a certificate of the example world
(`supplier-ds`), or `pki:<entry>` for the witness PKI's.  `mcf: {build: <make-file spec>}`
builds and signs a real MCF and takes `installation` (the one at `installation_index`,
default 0) and `group_id` from it, through the same extraction the DCC's run uses.

Witnesses of the Migration Group Encrypted File data validation say `mef: {build, edit}` and
`mcf: {build}` (the DCO Required File Set): tmadkit.group_validation.witness makes them facts.
"""
from __future__ import annotations

import atexit
import dataclasses
import shutil
import tempfile
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from .context import AuthContext
from .facts import file_facts
from .received import ReceivedFile

WITNESS_TIME = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
DEFAULT_AUTHENTICATOR = "DCC"


@lru_cache(maxsize=1)
def witness_pki():
    from ..smki import pki

    folder = Path(tempfile.mkdtemp(prefix="tmadkit-witness-pki-"))
    atexit.register(shutil.rmtree, folder, True)
    return pki.init(folder / "pki", now=WITNESS_TIME)


def copy_public_pki(src: Path, dest: Path) -> None:
    """A PKI's manifest and certificates; never its private keys."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or rel.parts[0] == "keys" or path.suffix == ".key":
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / rel)


@lru_cache(maxsize=1)
def witness_pki_public() -> Path:
    """The witness PKI as an implementation under test is given it: pki.yaml and the
    certificates.  Never the keys: with a CA's or a signer's key it could sign files of its own
    and pass them off as witnesses."""
    folder = Path(tempfile.mkdtemp(prefix="tmadkit-witness-pki-public-"))
    atexit.register(shutil.rmtree, folder, True)
    copy_public_pki(witness_pki().dir, folder / "pki")
    return folder / "pki"


def _registry():
    from ..smki.registry import Registry

    registry = Registry(":memory:")
    witness_pki().load_into(registry)
    return registry


@lru_cache(maxsize=256)
def _built(spec_key: str, op: str | None, edit_key: str | None) -> tuple[str, bytes]:
    """Build (edit, tamper) once per distinct witness: signing is the slow part."""
    import json

    from ..files.build import build
    from ..files.tamper import resign_with, tamper

    spec = json.loads(spec_key)
    built = build(spec, witness_pki(), now=WITNESS_TIME)
    if edit_key is not None:
        # An edit changes element text and re-signs, so only the rule about that text can object.
        edit = json.loads(edit_key)

        def set_text(root) -> None:
            from ..runtime.files import XPATH_NAMESPACES

            for node in root.xpath(edit["select"], namespaces=XPATH_NAMESPACES):
                node.text = edit["text"]

        built = dataclasses.replace(built, content=resign_with(built.content, witness_pki(), None, set_text))
    content = built.content if op is None else tamper_with_pki(built, op, tamper)
    return built.name, content


def tamper_with_pki(built, op: str, tamper) -> bytes:
    """Tamper operations that need the PKI live here; the rest are byte edits in files.tamper."""
    if op == "keyinfo-other-certificate":
        # Signed with one key; KeyInfo rewritten to name another certificate the Authenticator
        # holds (KeyInfo is not signed, so only the crypto check can notice).
        other = witness_pki().entry("s1sp-migration-signing")
        from ..xml import safe

        tree = safe.parse_bytes(built.content)
        # The signature's own KeyInfo, the root's last child: the body's Certificate IDs use
        # the same ds: element names and must stay as signed.
        ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
        (issuer_serial,) = tree.getroot().xpath("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509IssuerSerial",
                                                namespaces=ns)
        issuer_serial.find("ds:X509IssuerName", ns).text = other.cert_id.issuer_string
        issuer_serial.find("ds:X509SerialNumber", ns).text = str(other.cert_id.serial)
        from lxml import etree

        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return tamper(built.content, op, pki=witness_pki())


def describes_file(facts: Mapping[str, Any]) -> bool:
    f = facts.get("file") if isinstance(facts, Mapping) else None
    return isinstance(f, Mapping) and "build" in f


EXAMPLE_WORLD = "example"


@lru_cache(maxsize=1)
def example_world():
    """spec/world/example with the witness PKI's certificates added to its registry."""
    from ..smki.registry import Registry
    from ..world import World, example_dir, load_database

    folder = Path(tempfile.mkdtemp(prefix="tmadkit-witness-world-"))
    atexit.register(shutil.rmtree, folder, True)
    db = folder / "world.sqlite"
    load_database(example_dir(), db)
    registry = Registry(db)
    try:
        witness_pki().load_into(registry)
    finally:
        registry.close()
    return World(db)


@lru_cache(maxsize=256)
def _certificate_ref(name: str) -> dict:
    from ..smki.certificates import NULL_CERTIFICATE_ID

    if name == "NULL":
        cid = NULL_CERTIFICATE_ID
    elif name.startswith("pki:"):
        cid = witness_pki().entry(name[4:]).cert_id
    else:
        cid = example_world().certificate_id(name)
        if cid is None:
            raise ValueError(f"witness names certificate {name!r}, which the example world does not have "
                             f"(it has {', '.join(example_world().certificate_names())}; "
                             "write pki:<entry> for the witness PKI's)")
    return {"issuer": cid.issuer_string, "serial": str(cid.serial)}


def _resolve_certificates(node: Any) -> Any:
    """Certificate names under `certificates` mappings -> {issuer, serial}."""
    if isinstance(node, list):
        return [_resolve_certificates(x) for x in node]
    if not isinstance(node, Mapping):
        return node
    out = {}
    for key, value in node.items():
        if key == "certificates" and isinstance(value, Mapping):
            out[key] = {slot: _certificate_ref(v) if isinstance(v, str) else v for slot, v in value.items()}
        else:
            out[key] = _resolve_certificates(value)
    return out


@lru_cache(maxsize=128)
def _built_installations(spec_key: str) -> tuple[str | None, tuple]:
    """(GroupID, installation facts) of a built MCF, in file order."""
    from ..common_validation import extract
    from ..xml import safe

    _, content = _built(spec_key, None, None)
    root = safe.parse_bytes(content).getroot()
    group = root.find(extract._M + "GroupID")
    return (None if group is None else group.text,
            tuple(extract.installation(el) for el in extract.installations(root)))


def describes_world(facts: Mapping[str, Any]) -> bool:
    return isinstance(facts, Mapping) and facts.get("world") == EXAMPLE_WORLD


def _world_facts(facts: Mapping[str, Any]) -> Mapping[str, Any]:
    import json

    out = {k: v for k, v in facts.items() if k not in ("world", "mcf", "installation_index")}
    mcf = facts.get("mcf")
    if isinstance(mcf, Mapping) and "build" in mcf:
        group, installations = _built_installations(json.dumps(dict(mcf["build"]), sort_keys=True))
        out.setdefault("group_id", group)
        out["installation"] = installations[int(facts.get("installation_index", 0))]
    elif mcf is not None:
        out["mcf"] = mcf
    out = _resolve_certificates(out)
    context = dict(out.get("context") or {})
    context["world"] = example_world()
    out["context"] = context
    return out


def materialise(facts: Mapping[str, Any]) -> Mapping[str, Any]:
    """Witness facts -> runtime facts (unchanged unless they describe a file or use a world)."""
    if describes_world(facts):
        return _world_facts(facts)
    from ..group_validation.witness import describes_group_files, materialise as group_files
    if describes_group_files(facts):
        return group_files(facts)
    if not describes_file(facts):
        return facts
    import json

    spec = dict(facts["file"]["build"])
    edit = facts["file"].get("edit")
    name, content = _built(json.dumps(spec, sort_keys=True), facts["file"].get("tamper"),
                           json.dumps(edit, sort_keys=True) if edit is not None else None)
    at = facts.get("received_at")
    at = datetime.fromisoformat(at) if isinstance(at, str) else (at or WITNESS_TIME)
    from ..stores.counters import CounterStore

    ctx = AuthContext(str(facts.get("authenticator", DEFAULT_AUTHENTICATOR)), _registry(),
                      CounterStore(":memory:"), at)
    extra = {k: v for k, v in facts.items() if k not in ("file", "received_at", "authenticator")}
    return file_facts(ReceivedFile(name, content), ctx, extra)


def evaluate(check, facts: Mapping[str, Any], version: str | None = None):
    """Run a generated check on a witness's facts (materialised first), under a document version."""
    return check(materialise(facts), version)
