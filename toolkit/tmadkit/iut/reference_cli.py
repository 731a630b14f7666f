"""The reference Authenticator as a command, for the command adapter:

    python -m tmadkit.iut.reference_cli FILE --as DCC --at 2026-03-01T12:00:00+00:00 --pki DIR

Each run is a fresh Authenticator (empty Stored Counters): one scenario, one file.
"""
from __future__ import annotations

import sys
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from ..authentication.procedure import Procedure
from . import serve
from .files import AuthRequest, authenticate as _authenticate


@lru_cache(maxsize=4)
def registry(pki: str):
    """The certificates of a test PKI directory, as an Authenticator holds them (cached per process)."""
    from ..smki import pki as pki_mod
    from ..smki.registry import Registry

    trusted = Registry(":memory:")
    pki_mod.load(pki).load_into(trusted)
    return trusted


@lru_cache(maxsize=1)
def procedure() -> Procedure:
    """Table 5.9's procedure, read quickly.  A command starts once per file, and reading every
    rule file with line marks and JSON-Schema validation (what `tmadkit lint` is for) costs
    over a second; the procedure needs only the TMAD rule files, parsed by libyaml into the
    same Rule objects.  Without libyaml it reads them the careful way."""
    import yaml

    from .. import paths, rules

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return Procedure.load("authenticate")

    class _Loader(loader):   # dates stay strings, as rules.py reads them
        yaml_implicit_resolvers = rules._Loader.yaml_implicit_resolvers

    files = []
    for path in rules.rule_files(paths.rules_dir() / "tmad"):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        files.append(rules.RuleFile(path, path.name, data["document"], data["title"], data.get("clause"),
                                    data.get("description", ""),
                                    [rules._rule(d, data["document"], path.name, 0) for d in data["rules"]],
                                    "", data.get("procedure")))
    return Procedure.load("authenticate", rules.RuleSet(files))


def authenticate(file_name: str, content: bytes, *, authenticator: str, at: datetime, pki: Path) -> dict:
    """The contract's Python signature, answered by the reference (Table 5.9 over the generated checks)."""
    return _authenticate(AuthRequest(file_name, content, authenticator, at, Path(pki)), registry=registry(str(pki)),
                         proc=procedure())


if __name__ == "__main__":
    sys.exit(serve.command_main(authenticate, prog="python -m tmadkit.iut.reference_cli"))
