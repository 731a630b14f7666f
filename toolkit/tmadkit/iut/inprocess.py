"""The in-process adapter: `--iut package.module:factory` returns an object with the operations.

Operations are found by name (contract.AUTHENTICATE, APPLY, SMI_APPLY).  An object with
`apply` but no `authenticate` (the reference) is given file witnesses as facts through
`apply`, which builds the file itself; an object with `authenticate` gets the real file.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

from . import contract
from .contract import APPLY, AUTHENTICATE, SMI_APPLY, Declaration, IUTError
from .files import AuthRequest


def load_factory(spec: str):
    """MODULE:FACTORY, where MODULE is a dotted module name or a path to a .py file."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"--iut {spec!r}: expected MODULE:FACTORY (e.g. mypkg.iut:factory or examples/x.py:factory)")
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        # One module per file, kept for the process (several runs may open it), and named by
        # its path: two files called impl.py are two implementations.
        name = f"tmadkit_iut_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
        if name not in sys.modules:
            loader = importlib.util.spec_from_file_location(name, path)
            if loader is None or not path.is_file():
                raise ValueError(f"--iut {spec!r}: no such file {path}")
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            try:
                loader.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]   # never leave half a module to be found next time
                raise
        module = sys.modules[name]
    else:
        module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"--iut {spec!r}: {module_name} has no {attr!r}") from None


class InProcessAdapter:
    kind = "in-process"

    def __init__(self, obj, spec: str, declaration: Declaration | None = None):
        self.obj = obj
        name = str(getattr(obj, "name", spec))
        self.description = f"{name} ({spec}, in-process)"
        decl = declaration or getattr(obj, "declaration", None)
        if isinstance(decl, dict):
            decl = Declaration.from_mapping(decl, where=spec, default_name=name)
        # An object that declares nothing is taken to play every role a scenario drives (the
        # reference; implementations written before the contract).
        self.declaration = decl or Declaration(name, roles=contract.IMPLEMENTED_ROLES)
        has = {op for op in (AUTHENTICATE, APPLY, SMI_APPLY) if callable(getattr(obj, op, None))}
        self.takes_files = AUTHENTICATE in has
        # `apply` accepts witnesses that describe files too: the reference builds them itself.
        self.operations = has | ({AUTHENTICATE} if APPLY in has else set())

    def __getattr__(self, attr):
        # smi_steps asks for smi_apply (hasattr: AttributeError where the object has none) and
        # reads `name` on the implementation itself
        value = getattr(self.obj, attr)
        return functools.partial(self._call, SMI_APPLY) if attr == SMI_APPLY else value

    def _call(self, operation: str, *args, **kwargs):
        """The implementation's operation.  Anything it raises, an AssertionError of its own
        included, is its crash: an IUTError (an *error* on the scenario), never a failure,
        which is tmadkit finding a wrong answer."""
        try:
            return getattr(self.obj, operation)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the implementation's crash is the scenario's error
            raise IUTError(f"{operation} raised {type(exc).__name__}: {exc}",
                           {"traceback": traceback.format_exc(limit=5)}) from exc

    def apply(self, actor, rule_id, facts, **kwargs):
        return self._call(APPLY, actor, rule_id, facts, **kwargs)   # version=, where the scenario names one

    def authenticate(self, request: AuthRequest) -> dict:
        answer = self._call(AUTHENTICATE, request.file_name, request.content, authenticator=request.authenticator,
                            at=request.at, pki=request.pki)
        return contract.check_answer(answer, "authenticate")
