"""Witnesses of the Group Encrypted File data validation: the DCO Required File Set as real files.

A witness says `mef: {build: <make-file spec>, edit: {select, text}}` and `mcf: {build: ...}`
(the MCF of the same set; Table 16.7 reads it: "if according to the Migration Common File there
is a GSME").  Both are built and signed with the witness PKI; the MEF's entry at
`installation_index` (default 0) becomes `entry`, the MCF's installation with the same CHF
becomes `installation`, and the MEF's GroupID `group_id`.  The edited MEF must still be valid
against the SMETS1 Migration Schema: a file that is not would be discarded whole at step 5.9.1
and never reach these per-installation checks, so such a witness is refused as wrong.

An MGF witness (Tables 12.6 and 14.7, the S1SP's) says `mgf: {build, edit}`: its entry at
`installation_index` becomes `entry`; the rows read nothing of the MCF, so none is needed.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Mapping

from . import extract


def _describes(facts: Any, key: str) -> bool:
    f = facts.get(key) if isinstance(facts, Mapping) else None
    return isinstance(f, Mapping) and "build" in f


def describes_group_files(facts: Any) -> bool:
    return _describes(facts, "mef") or _describes(facts, "mgf")


@lru_cache(maxsize=128)
def _entries(file_type: str, spec_key: str, edit_key: str | None) -> tuple[str | None, tuple]:
    from ..authentication.witness import _built
    from ..xml import safe, schema

    name, content = _built(spec_key, None, edit_key)
    root = safe.parse_bytes(content, file=name).getroot()
    errors = schema.validate(root, file_type=file_type)
    if errors:
        raise ValueError(f"witness {file_type} {name} is not valid against the SMETS1 Migration Schema, so step "
                         f"5.9.1 would discard it before any per-installation check: {errors[0]}")
    group = root.find(extract._M + "GroupID")
    read = extract.entry if file_type == "MEF" else extract.mgf_entry
    return (None if group is None else group.text, tuple(read(el) for el in extract.entries(root)))


def _entry(facts: Mapping[str, Any], key: str) -> tuple[str | None, dict]:
    spec, edit = facts[key], facts[key].get("edit")
    group, entries = _entries(key.upper(), json.dumps(dict(spec["build"]), sort_keys=True),
                              None if edit is None else json.dumps(dict(edit), sort_keys=True))
    index = int(facts.get("installation_index", 0))
    if not 0 <= index < len(entries):
        raise ValueError(f"installation_index {index}: the witness {key.upper()} has {len(entries)} installation(s)")
    return group, entries[index]


def materialise(facts: Mapping[str, Any]) -> dict:
    from ..authentication.witness import _built_installations

    if _describes(facts, "mgf"):
        if "mef" in facts:
            raise ValueError("a witness describes an MGF or an MEF entry, not both")
        group, entry = _entry(facts, "mgf")
        out = {k: v for k, v in facts.items() if k not in ("mgf", "installation_index")}
        out.setdefault("group_id", group)
        out["entry"] = entry
        return out
    mcf = facts.get("mcf")
    if not (isinstance(mcf, Mapping) and "build" in mcf):
        raise ValueError("a witness with an MEF also needs the MCF of the DCO Required File Set (mcf: {build: ...})")
    group, entry = _entry(facts, "mef")
    _, installations = _built_installations(json.dumps(dict(mcf["build"]), sort_keys=True))
    matching = [i for i in installations if i.get("chf", {}).get("device_id") == entry.get("CHFIdentifier")]
    if not matching:
        raise ValueError(f"the witness MCF has no installation with the MEF entry's CHF {entry.get('CHFIdentifier')}")
    out = {k: v for k, v in facts.items() if k not in ("mef", "mcf", "installation_index")}
    out.setdefault("group_id", group)
    out["entry"], out["installation"] = entry, matching[0]
    return out
