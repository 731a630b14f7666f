"""The DCC's processing of one MCF it has accepted under Table 5.9: Table 5.10 for every
installation, the 5.10(a) distribution plan, and (optionally) the signed MVF written to a folder.

`tmadkit validate MCF --as DCC --world DIR [--emit-mvf OUTDIR]` calls `process_mcf`; the result
is added to the file's JSON (`installations`, `distribution`, `mvf`).
"""
from __future__ import annotations

from datetime import datetime
from itertools import islice
from pathlib import Path

from .. import atomic
from ..authentication.received import ReceivedFile
from . import distribution, extract
from .counter import next_counter
from .run import CommonValidation


def process_mcf(received: ReceivedFile, world, at: datetime, *, pki=None, emit_dir: Path | None = None,
                state_dir: Path | None = None, mvf_counter: int | None = None,
                version: str | None = None, speculation=None) -> dict:
    """`speculation`: a SpeculativeCommonValidation already running Table 5.10 over this file;
    run here otherwise.  The last reader of the MCF: `received` is released once its
    installations are checked (its header stays)."""
    header = received.header
    cv = CommonValidation(world, at, version=version)
    root = received.tree.getroot()
    first = None
    if header.get("ToBeCommissionedByDCC") is False:
        first = [extract.installation(el) for el in islice(extract.installations(root), 10)]
    results = speculation.results(cv, root) if speculation is not None else None
    if results is None:
        results = list(cv.run_mcf(root))
    del root
    received.release()      # the MCF is read: its tree is not kept while the MVF is built
    failed = sum(1 for r in results if r.failed_checks)
    signifier = None if first is None else distribution.responsible_supplier_signifier(cv.world, first)
    out: dict = {
        "installations": [r.to_dict() for r in results],
        "installations_failed": failed,
        "distribution": distribution.plan(header, accepted=True, installations_failed=failed, signifier=signifier),
        "mvf": None,
    }
    if emit_dir is not None:
        from .mvf import emit

        if pki is None:
            raise ValueError("emitting an MVF needs a PKI with its signing key")
        counter = mvf_counter if mvf_counter is not None else next_counter(state_dir or Path("."),
                                                                          str(header.get("RequestingPartyID")))
        mvf = emit(header, results, pki, at, counter)
        emit_dir.mkdir(parents=True, exist_ok=True)
        path = emit_dir / mvf.name
        atomic.write_text(path, mvf.content)
        out["mvf"] = {"file": mvf.name, "path": str(path), "signer": mvf.signer, "naming_rule": mvf.naming_rule,
                      "header": mvf.header}
    cv.world.close()
    return out
