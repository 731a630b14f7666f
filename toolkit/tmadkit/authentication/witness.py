"""Witnesses that describe files become real, signed files.

A witness for a file-level rule says `file: {build: <make-file spec>, tamper: <op>}`, and
may add `edit: {select: <XPath>, text: <value>}` to set element text and re-sign.  Before
the check runs, the file is built and signed with a test PKI, tampered with, and wrapped in
the same lazy facts a live Authenticator uses, so a witness exercises the real parser, XSD,
signature and certificate code, not a description of their results.

The witness PKI is created once per process, in a private temporary directory that is
removed at exit; its clock is fixed (WITNESS_TIME) so certificate validity is deterministic.
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
        ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
        tree.find(".//ds:X509IssuerName", ns).text = other.cert_id.issuer_string
        tree.find(".//ds:X509SerialNumber", ns).text = str(other.cert_id.serial)
        from lxml import etree

        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return tamper(built.content, op, pki=witness_pki())


def describes_file(facts: Mapping[str, Any]) -> bool:
    f = facts.get("file") if isinstance(facts, Mapping) else None
    return isinstance(f, Mapping) and "build" in f


def materialise(facts: Mapping[str, Any]) -> Mapping[str, Any]:
    """Witness facts -> runtime facts (unchanged unless they describe a file)."""
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
