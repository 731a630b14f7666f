"""Clause 5.10(c): every Table 5.10 check for every SMETS1 Installation of an MCF, in file order.

The order of the steps, which rule encodes each, and which reading of a disputed row is
applied are data: the `common-validation` procedure in rules/tmad/table-5.10.yaml.  This
module only runs the generated checks of that plan over each installation and records a
FailedCheck - StepNumber and SupportingData - for each failure.  There is no early stop:
"the DCC shall undertake all checks from Table 5.10 for the SMETS1 Installation".

A check that raises on some input (it should not: the primitives report bad data as
failures) is recorded as a FailedCheck of its step, fail-closed, with the error as detail.

What need not be worked out twice is not: a row that reads no identifier is decided once per
installation shape (extract.keyed; extract.shape for facts not read from a file) when it passes
or does not apply, and whether a row applies is remembered per shape where that reads no
identifier (CommonValidation.check).
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Iterator

from .. import registry as checks_registry
from ..authentication.procedure import Procedure
from ..runtime.common_validation import IDENTIFIER_BLIND
from ..runtime.primitives import leaves
from ..runtime.verdict import FAIL, NOT_APPLICABLE, PASS
from . import extract
from .cached_world import CachedWorld

PROCEDURE = "common-validation"
BLOCK = 2000            # installations per prefetch batch
SHAPES = 4096           # distinct installation shapes remembered per run (then forgotten, not grown)


class Cancelled(Exception):
    """The run was told to stop (its file was rejected meanwhile): there are no results."""


@dataclass(frozen=True)
class FailedCheck:
    step: str                       # FailedStepNumber, e.g. "5.10.4"
    rule: str
    detail: str
    supporting_data: dict | None    # Result.evidence: {"device_id"} | {"certificate"} | {"certificate_pair"}

    def to_dict(self) -> dict:
        return {"step": self.step, "supporting_data": self.supporting_data, "rule": self.rule,
                "detail": self.detail}


@dataclass
class InstallationResult:
    chf: str
    failed_checks: list[FailedCheck] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"chf": self.chf, "failed_checks": [f.to_dict() for f in self.failed_checks]}


@lru_cache(maxsize=1)
def procedure() -> Procedure:
    from ..rules import tmad_rules

    return Procedure.load(PROCEDURE, tmad_rules())


def plan() -> list[tuple[str, str, Any]]:
    """(step, rule id, generated check) in the order Table 5.10 applies them (the same for every
    version: a check takes the version as an argument)."""
    return [(step, rule.id, checks_registry.check(rule.id)) for step, rule in procedure().plan("DCC")]


def _scalars(value) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _scalars(v)
    elif isinstance(value, list):
        for v in value:
            yield from _scalars(v)
    else:
        yield value


def _reads_identifiers(pred: dict) -> bool:
    """Might the predicate's verdict depend on an installation's DeviceIDs, MPANs or MPRNs?
    No only where every primitive is identifier-blind and no argument names an identifier;
    any other primitive counts as reading them if it reads anything of the installation."""
    return any(_primitive_reads_identifiers(name, args) for name, args in leaves(pred))


def _primitive_reads_identifiers(name: str, args: Any) -> bool:
    paths = [v for v in _scalars(args) if isinstance(v, str)]
    if name in IDENTIFIER_BLIND:
        return any(p.rpartition(".")[2] in extract.IDENTIFIERS for p in paths)
    return any(p == "installation" or p.startswith("installation.") for p in paths)


def _reading_no_identifier(preds_of) -> frozenset[str]:
    """The Table 5.10 rules whose predicates `preds_of(rule)` exist and read no identifier."""
    return frozenset(rule.id for _, rule in procedure().plan("DCC")
                     if (preds := preds_of(rule)) and not any(_reads_identifiers(p) for p in preds))


@lru_cache(maxsize=None)
def identifier_blind_rules() -> frozenset[str]:
    """The Table 5.10 rules whose verdict is the same for installations of equal shape
    (extract.keyed): their applicability and predicate read no identifier."""
    from ..codegen import applicability_preds

    return _reading_no_identifier(lambda rule: rule.predicate and [*applicability_preds(rule), rule.predicate])


@lru_cache(maxsize=None)
def identifier_blind_applicability() -> frozenset[str]:
    """The Table 5.10 rules with an applicability (applies_to) that reads no identifier: whether
    they apply is the same for installations of equal shape, even where their predicate reads
    identifiers (5.10.9 applies where the ESME's Supplier certificates identify one Party)."""
    from ..codegen import applicability_preds

    return _reading_no_identifier(applicability_preds)


@dataclass
class _ShapeMemo:
    """What is known of every installation of one shape (and GroupID)."""
    settled: set[str] = field(default_factory=set)   # rules that pass or do not apply: no FailedCheck
    applies: set[str] = field(default_factory=set)   # rules that apply: only their predicate is run


class CommonValidation:
    """Runs Table 5.10 at one check time against one World (wrapped in a CachedWorld)."""

    def __init__(self, world, at: datetime, *, version: str | None = None):
        if at.tzinfo is None:
            raise ValueError("the check time must be timezone-aware")
        self.world = world if isinstance(world, CachedWorld) else CachedWorld(world)
        self.at = at
        self.version = version
        self.plan = plan()
        # An MCF repeats a few combinations of Device Models and certificates across thousands
        # of installations.  A row that reads no identifier passes for all installations of one
        # shape or for none, so it is checked once per shape; a failure is always checked again,
        # since its wording and SupportingData name the installation's own Devices.
        # Likewise whether a row applies, where that reads no identifier.
        self._blind = identifier_blind_rules()
        self._blind_applicability = identifier_blind_applicability()
        self._shapes: dict[tuple, _ShapeMemo] = {}       # (GroupID, shape) -> what is known

    def facts(self, group_id: str | None, installation: dict) -> dict:
        return {"group_id": group_id, "at": self.at, "context": {"world": self.world},
                "installation": installation}

    def check(self, group_id: str | None, installation: dict, known: _ShapeMemo | None = None) -> InstallationResult:
        """`known`: what is known of the installation's shape (self.known(); worked out here if None)."""
        facts = self.facts(group_id, installation)
        out = InstallationResult(extract.chf_of(installation))
        if known is None:
            known = self.known(group_id, extract.shape(installation))
        for step, rule_id, check in self.plan:
            if rule_id in known.settled:
                continue
            try:
                verdict = (check(facts, self.version, applies_known=True) if rule_id in known.applies
                           else check(facts, self.version))
            except Exception as exc:  # noqa: BLE001 - fail-closed, reported, never raised
                out.failed_checks.append(FailedCheck(step, rule_id, f"error: {type(exc).__name__}: {exc}", None))
                continue
            if rule_id in self._blind_applicability:
                if verdict.status == NOT_APPLICABLE:
                    known.settled.add(rule_id)
                else:
                    known.applies.add(rule_id)
            if verdict.status in (PASS, NOT_APPLICABLE):
                if rule_id in self._blind:
                    known.settled.add(rule_id)
                continue
            out.failed_checks.append(FailedCheck(step, rule_id, verdict.detail,
                                                 verdict.evidence if verdict.status == FAIL else None))
        return out

    def known(self, group_id: str | None, sh: tuple | None) -> _ShapeMemo:
        """What is known of installations of shape `sh` (to add to); a throwaway memo when the
        facts have no shape."""
        if sh is None:
            return _ShapeMemo()
        key = (group_id, sh)
        known = self._shapes.get(key)
        if known is None:
            if len(self._shapes) >= SHAPES:
                self._shapes.clear()
            known = self._shapes[key] = _ShapeMemo()
        return known

    def run(self, group_id: str | None, installations: Iterable[dict], *,
            stop: threading.Event | None = None) -> Iterator[InstallationResult]:
        """Installation facts in MCF order -> results in the same order (prefetching per block).
        Raises Cancelled between blocks once `stop` is set."""
        return self.run_keyed(group_id, ((inst, None) for inst in installations), stop=stop)

    def run_keyed(self, group_id: str | None, keyed: Iterable[tuple[dict, tuple | None]], *,
                  stop: threading.Event | None = None) -> Iterator[InstallationResult]:
        """The same for (facts, key) pairs as extract.keyed() gives them."""
        # A block holds what is known of each installation's shape, not its key: one object per
        # shape, where the keys (a tuple of some 140 items each) would be one per installation.
        block: list[tuple[dict, _ShapeMemo]] = []
        for inst, key in keyed:
            block.append((inst, self.known(group_id, extract.shape(inst) if key is None else key)))
            if len(block) == BLOCK:
                if stop is not None and stop.is_set():
                    raise Cancelled("Table 5.10 stopped before the end of the file")
                yield from self._block(group_id, block)
                block = []
        if block:
            yield from self._block(group_id, block)

    def _block(self, group_id, block):
        self.world.prefetch([inst for inst, _ in block])
        for inst, known in block:
            yield self.check(group_id, inst, known)

    def run_mcf(self, root, *, stop: threading.Event | None = None) -> Iterator[InstallationResult]:
        """The SMETS1Installations of a parsed MCF (its root element), in file order."""
        return self.run_keyed(extract.group_id_of(root), map(extract.keyed, extract.installations(root)), stop=stop)

    def run_stream(self, source, *, file: str | None = None,
                   stop: threading.Event | None = None) -> Iterator[InstallationResult]:
        """The same for an MCF's bytes or a reader of them, parsed as a stream (extract.stream):
        no tree is kept."""
        pairs = extract.stream(source, file=file)
        first = next(pairs, None)
        if first is None:
            return iter(())
        rest = (inst for _, inst in pairs)
        return self.run_keyed(first[0], itertools.chain((first[1],), rest), stop=stop)
