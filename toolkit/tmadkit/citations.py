"""Which of a rule's citations still stand: the one place that says a rule is *suspect*.

Suspect links follow Doorstop: a citation stores the fingerprint of the clause text it was
written against.  A citation is stale when the current catalogue's text of its clause has
another fingerprint ("changed") or the clause is no longer in the catalogue ("removed").  A
rule with a stale citation is suspect until someone reviews it (`tmadkit review`): lint
fails, and a conformance run never reports it as passed.
"""
from __future__ import annotations

from typing import Iterable

from . import catalogue as cat

CHANGED, REMOVED = "changed", "removed"


class CitingCatalogue:
    """A document's catalogue that also resolves ids of other documents by their prefix.

    A rule file has one document, but the SMI lifecycle cites the TMAD's changes to AC
    (TMAD:3.2, TMAD:3.3) beside AC's own clauses; an id names its document ("TMAD:3.2")."""

    def __init__(self, catalogues: dict[str, cat.Catalogue], home: cat.Catalogue):
        self._catalogues, self._home = catalogues, home
        self.document, self.version = home.document, home.version

    def get(self, clause_id: str) -> cat.Entry | None:
        other = self._catalogues.get(clause_id.split(":", 1)[0])
        return (other or self._home).get(clause_id)

    def __contains__(self, clause_id: str) -> bool:
        return self.get(clause_id) is not None


def citing_catalogue(catalogues: dict[str, cat.Catalogue], document: str) -> CitingCatalogue | None:
    home = catalogues.get(document)
    return None if home is None else CitingCatalogue(catalogues, home)


def stale(citations: Iterable, catalogue: CitingCatalogue | None) -> list[tuple[str, str]]:
    """(clause id, CHANGED | REMOVED) for each citation (anything with .id and .fingerprint, or
    a dict with those keys) whose clause text is not the text it was reviewed against.  Nothing
    when there is no catalogue for the rule's document (lint reports that on its own)."""
    if catalogue is None:
        return []
    out = []
    for c in citations:
        cid, fingerprint = (c["id"], c["fingerprint"]) if isinstance(c, dict) else (c.id, c.fingerprint)
        entry = catalogue.get(cid)
        if entry is None:
            out.append((cid, REMOVED))
        elif entry.fingerprint != fingerprint:
            out.append((cid, CHANGED))
    return list(dict.fromkeys(out))
