"""A received file: its name and bytes, parsed at most once and only by the hardened parser."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from lxml import etree

from ..xml import safe, schema

_SIGNATURE_NS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass
class ReceivedFile:
    name: str
    content: bytes = field(repr=False)
    _released: bool = field(default=False, init=False, repr=False)
    # certificate DER -> the verification of the signature with it (_Verification)
    _verifications: dict = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def read(cls, path: str | Path) -> "ReceivedFile":
        p = Path(path)
        return cls(p.name, p.read_bytes())

    @cached_property
    def tree(self) -> etree._ElementTree:
        """The parsed document; raises tmadkit.xml.safe.XMLInputError for hostile or broken XML."""
        if self._released:
            raise RuntimeError(f"{self.name}: the received file was released; its tree is gone")
        return safe.parse_bytes(self.content, file=self.name)

    def release(self) -> None:
        """Let go of the bytes and the tree when the last step that reads them is done: a 400 MB
        MCF's tree is 2 GB, and the MVF is built after it.  What was read from them (header,
        root element, file type) stays; asking for the tree again is an error, never a parse
        of bytes that are no longer the ones received."""
        self.header, self.root_element, self.file_type   # noqa: B018 - kept: read before letting go
        self.settle()
        self._verifications.clear()
        self.__dict__.pop("tree", None)
        self.__dict__.pop("signature_profile", None)
        self.content = b""
        self._released = True

    @cached_property
    def parse_error(self) -> Exception | None:
        try:
            self.tree
        except Exception as exc:  # noqa: BLE001 - reported as the 5.9.1 failure, never raised
            return exc
        return None

    @cached_property
    def signature_profile(self):
        """tmadkit.xml.signature.check_profile of the tree, worked out once (it scans the whole
        document for ds:Signature elements, and Table 5.9 asks at several steps).  A signature
        outside the profile raises SignatureError each time it is asked for."""
        from ..xml import signature

        return signature.check_profile(self.tree, file=self.name)

    def verify_ahead(self, certificate) -> None:
        """Start verifying the signature with `certificate` (tmadkit.xml.signature.verify of the
        tree, with its profile) in a thread, for `verified` to collect.  Step 5.9.2's
        canonicalisation and digest of the whole document are C with the GIL released, as is
        libxml2's XSD validation at 5.9.1: started once the tree is parsed, the two run side
        by side.  Both only read the tree (the document's own root is validated, so lxml
        builds no stand-in document, and the XSD validator adds no default attributes).
        Nothing about the file is decided here: a file that 5.9.1 rejects never has its
        verification asked for, and `settle` waits for it to end (xmlsec cannot be stopped)."""
        key = _der(certificate)
        if key not in self._verifications:
            self._verifications[key] = _Verification(self, certificate, ahead=True)

    def verified(self, certificate):
        """tmadkit.xml.signature.verify of the tree with `certificate`, worked out once (or
        collected from verify_ahead): the VerifiedSignature, or the SignatureError it raised."""
        key = _der(certificate)
        verification = self._verifications.get(key)
        if verification is None:
            verification = self._verifications[key] = _Verification(self, certificate, ahead=False)
        return verification.result()

    def settle(self) -> None:
        """Wait for every verification started ahead: nothing reads the tree once this returns."""
        for verification in self._verifications.values():
            verification.wait()

    @cached_property
    def root_element(self) -> str | None:
        return None if self.parse_error else etree.QName(self.tree.getroot()).localname

    @cached_property
    def file_type(self) -> str | None:
        """The file type named by the root element (Table 10.2 'XML structure within file')."""
        return None if self.parse_error else schema.file_type_of(self.tree)

    @cached_property
    def header(self) -> dict:
        """Leaf children of the root (Migration Header, counters, GroupID, ...), typed."""
        if self.parse_error:
            return {}
        out: dict = {}
        for child in self.tree.getroot():
            if len(child) or not isinstance(child.tag, str):
                continue  # SMETS1Installation and other structures are not header values
            if etree.QName(child).namespace == _SIGNATURE_NS:
                continue
            name, text = etree.QName(child).localname, (child.text or "").strip()
            if name.endswith("Counter") and text.isdigit():
                out[name] = int(text)
            elif text in ("true", "false") and name == "ToBeCommissionedByDCC":
                out[name] = text == "true"
            else:
                out[name] = text
        return out


def _der(certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.DER)


class _Verification:
    """One signature.verify of a received file's tree with one certificate, run in the calling
    thread or (ahead) in its own; its outcome, value or exception, is handed to whoever asks."""

    def __init__(self, received: ReceivedFile, certificate, *, ahead: bool):
        from ..xml import signature

        # Read in the calling thread: the tree and profile are cached properties of `received`.
        self._args = (received.tree, certificate)
        self._kw = {"file": received.name, "profile": received.signature_profile}
        self._verify = signature.verify
        self._value = self._error = None
        self._thread = None
        if ahead:
            self._thread = threading.Thread(target=self._run, name="tmadkit-5.9.2", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            self._value = self._verify(*self._args, **self._kw)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
            self._error = exc
        finally:
            self._args = self._kw = None     # the tree: not kept alive by a finished verification

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def result(self):
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value
