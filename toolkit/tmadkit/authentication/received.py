"""A received file: its name and bytes, parsed at most once and only by the hardened parser."""
from __future__ import annotations

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
