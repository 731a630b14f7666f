"""Hardened parsing of untrusted XML (TMAD Table 5.9 step 5.9.1: "well formed").

Migration files come from other parties, so they are parsed as hostile input:

* No DTD at all.  A TMAD file has no use for one, and a DOCTYPE is what carries
  entity declarations (billion laughs, quadratic blow-up), external entities
  (XXE file read, network fetch) and external DTD subsets.  The DOCTYPE is
  refused by a scan of the prolog *before* libxml2 sees the document, so no
  entity declaration is ever parsed; the parser is also configured never to
  expand entities, load a DTD or touch the network, as a second line.
* No processing instructions.  They mean nothing in the migration schema, some
  instruct consumers to fetch things (xml-stylesheet, xml-model), and a PI is
  signed content that every check here would ignore: a place to smuggle data.
* UTF-8 only, and only UTF-8 that decodes: byte order marks of other encodings
  and encoding declarations other than UTF-8 are refused.
* XML 1.0 only: an XML declaration with any other version is refused.  The SMETS1
  Migration Schema is W3C XML Schema 1.0, the signature's canonicalisations (Canonical
  XML 1.0, Exclusive XML Canonicalization 1.0) are defined over XML 1.0, and the DCC's
  own signed files declare 1.0.  libxml2 would parse "1.1" (and "1.5") as 1.1, which
  allows characters and line ends XML 1.0 forbids: text other consumers read differently
  or refuse.  A file without a declaration is XML 1.0 by definition.
* Comments are removed by default.  The URI="" signature reference digests the
  document *without* comments, so comments are unsigned content; dropping them
  leaves the digest unchanged and means the tree callers read is exactly what
  was signed (``<a>I<!--x-->0</a>`` reads as "I0", not "I").
* huge_tree: a 300 MB file can hold text nodes beyond libxml2's 10 MB default
  limit.  With no DTD there is no entity expansion for that to amplify.

Every failure is an InputError naming the file, line and column, never a traceback.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterator

from lxml import etree

from ..errors import InputError
from . import allocator

CLAUSE = "TMAD:T5.9/5.9.1"

_UTF8_BOM = b"\xef\xbb\xbf"
# UTF-32 BOMs first: the UTF-32LE BOM starts with the UTF-16LE one.
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)
# A compressed file's first bytes read as control characters or a NUL: name what it is instead.
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_XML_WS = b" \t\r\n"
_ENCODING_DECL = re.compile(rb"""\sencoding\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# VersionInfo comes first in an XML declaration; without it, libxml2 reports the declaration malformed.
_VERSION_DECL = re.compile(rb"""[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')""")
_LIBXML_PLACE = re.compile(r",? line \d+, column \d+$")
_CHUNK = 1 << 16
_IN_ONE_CALL = 1 << 31   # libxml2 takes a memory buffer's length as an int
_LARGE = 16 << 20        # bytes of document whose freed tree stalls the allocator measurably (allocator.py)

# libxml2 error codes that mean "the input stopped too early" or "bad bytes".
_TRUNCATED_CODES = {77}          # XML_ERR_TAG_NOT_FINISHED ("Premature end of data")
_ENCODING_CODES = {81}           # XML_ERR_INVALID_ENCODING: bytes that are not UTF-8
_CHAR_CODES = {9}                # XML_ERR_INVALID_CHAR: valid UTF-8 of a character XML 1.0 forbids
_NOT_TRUNCATION_CODES = {4, 5, 76}  # empty, extra content, tag mismatch: even at the end
_EMPTY_CODES = {4}               # XML_ERR_DOCUMENT_EMPTY


class XMLInputError(InputError):
    """An XML file that is not acceptable input.

    ``kind`` says why, for callers and tests: "doctype", "processing-instruction",
    "encoding", "version", "truncated", "empty", "not-well-formed", "unreadable".
    """

    def __init__(self, message: str, *, kind: str, file: str | None = None,
                 line: int | None = None, column: int | None = None):
        self.kind, self.column = kind, column
        super().__init__(message, file=file, line=line,
                         where=f"column {column}" if column else None, clause=CLAUSE)


# What may follow "<?xml" in a declaration that has not reached its "?>": no markup.
_DECLARATION_OPEN = re.compile(rb"[^<>]*")
_ENDS_IN_DECLARATION = "the file ends inside its XML declaration (truncated?)"


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    if start == 0 and data.startswith(_UTF8_BOM):
        start = len(_UTF8_BOM)    # as libxml2 and editors count: the byte order mark is no column
    return line, offset - start + 1


def _scan_prolog(data: bytes, file: str | None, complete: bool) -> bool:
    """Check the prolog (everything before the root element) of ``data``.

    Returns True once the root element's start is reached (or the input is
    exhausted, which the parser then reports), False if more bytes are needed.
    Raises XMLInputError on a DOCTYPE, a processing instruction, a non-UTF-8
    encoding or an XML version other than 1.0.  This is a lexer for the four things
    a prolog may contain, not a parser: well-formedness is left to libxml2.
    """
    def fail(kind: str, offset: int, message: str):
        line, col = _line_col(data, offset)
        raise XMLInputError(message, kind=kind, file=file, line=line, column=col)

    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            fail("encoding", 0, f"file is {name}, not UTF-8")
    for magic, name in _COMPRESSED:
        if data.startswith(magic):
            fail("encoding", 0, f"file is {name}-compressed, not UTF-8 XML: a migration file is sent as XML "
                                "(decompress it first)")
    # Without a byte order mark libxml2 would detect UTF-16 or UTF-32 from the first bytes itself.
    if data[:4] in (b"\x00\x00\x00<", b"<\x00\x00\x00"):
        fail("encoding", 0, "file looks like UTF-32 without a byte order mark, not UTF-8")
    if data[:2] in (b"\x00<", b"<\x00"):
        fail("encoding", 0, "file looks like UTF-16 without a byte order mark, not UTF-8")
    if b"\x00" in data[:4]:
        fail("encoding", data.index(b"\x00"), "file has a NUL byte where it should start, not UTF-8")
    i = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    if not complete and len(data) < i + 9:
        return False                      # too little to classify the start yet

    # A file cut off inside its XML declaration: libxml2 calls the rest a processing instruction
    # or a malformed declaration, and the usual cause (an interrupted transfer) goes unsaid.
    if complete and len(data) - i >= 2 and b"<?xml".startswith(data[i:i + 5]) and len(data) - i <= 5:
        fail("truncated", len(data), _ENDS_IN_DECLARATION)
    if data.startswith(b"<?xml", i) and data[i + 5:i + 6] in (b" ", b"\t", b"\r", b"\n", b"?"):
        end = data.find(b"?>", i)
        if end < 0:
            if complete and _DECLARATION_OPEN.fullmatch(data, i + 5):
                fail("truncated", len(data), _ENDS_IN_DECLARATION)
            return complete
        v = _VERSION_DECL.match(data, i + 5, end)
        if v:
            version = (v.group(1) or v.group(2) or b"").decode("ascii", "replace")
            if version != "1.0":
                fail("version", v.start(v.lastindex),
                     f"XML declaration says version={version!r}; files must be XML 1.0 (the SMETS1 "
                     "Migration Schema and the signature's canonicalisation are defined for XML 1.0)")
        m = _ENCODING_DECL.search(data, i, end)
        if m:
            enc = (m.group(1) or m.group(2) or b"").decode("ascii", "replace")
            if enc.lower().replace("_", "-") not in ("utf-8", "utf8"):
                fail("encoding", m.start(), f"XML declaration says encoding={enc!r}; "
                                            "files must be UTF-8")
        i = end + 2

    while True:
        while i < len(data) and data[i] in _XML_WS:
            i += 1
        if i >= len(data):
            return complete
        if not complete and len(data) - i < 9:
            return False                  # "<!DOCTYPE" is 9 bytes: wait for more
        if data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            if end < 0:
                return complete
            i = end + 3
        elif data.startswith(b"<?xml", i) and data[i + 5:i + 6] in (b" ", b"\t", b"\r", b"\n", b"?"):
            fail("not-well-formed", i, "an XML declaration is allowed only at the very start of the file "
                                       "(nothing, not even a blank line, may come before it)")
        elif data.startswith(b"<?", i):
            fail("processing-instruction", i, "processing instructions are not allowed")
        elif data.startswith(b"<!", i):
            # "<!DOCTYPE" (any case: refuse rather than let the parser decide).
            fail("doctype", i, "DOCTYPE/DTD is not allowed (entity declarations, external "
                               "entities and external DTDs are refused without being read)")
        else:
            return True


def _options(keep_comments: bool) -> dict:
    # One set of options for the tree parser and the streaming parser: the file a DCC accepts
    # and the stream its Table 5.10 checks read must be parsed alike.
    return dict(
        resolve_entities=False,   # never expand entities (second line behind the prolog scan)
        load_dtd=False, dtd_validation=False, attribute_defaults=False,
        no_network=True,          # never fetch anything
        huge_tree=True,           # 300 MB files: large text nodes, deep-ish trees
        remove_comments=not keep_comments,
        remove_pis=False,         # PIs are refused, not silently dropped
        collect_ids=False,        # nothing here is referenced by ID (Reference URI="" only)
        recover=False,
        encoding="utf-8",         # libxml2 never guesses another encoding from the first bytes
    )


def _parser(keep_comments: bool) -> etree.XMLParser:
    # A fresh parser per document: lxml parsers are not safe to share across threads.
    return etree.XMLParser(**_options(keep_comments))


class _Position:
    """(line, column) just past the last byte of the chunks added, as libxml2 counts them."""

    def __init__(self):
        self.newlines, self.last_line_len = 0, 0

    def add(self, chunk: bytes) -> bytes:
        n = chunk.count(b"\n")
        self.newlines += n
        self.last_line_len = len(chunk) - chunk.rfind(b"\n") - 1 if n else self.last_line_len + len(chunk)
        return chunk

    def end(self) -> tuple[int, int]:
        return self.newlines + 1, self.last_line_len + 1


def _end_position(chunks) -> tuple[int, int]:
    position = _Position()
    for chunk in chunks:
        position.add(chunk)
    return position.end()


def _read_chunks(fh):
    fh.seek(0)
    while chunk := fh.read(_CHUNK):
        yield chunk


def _syntax_error(exc: etree.XMLSyntaxError, file: str | None,
                  end: tuple[int, int]) -> XMLInputError:
    line, col = exc.position if exc.position else (exc.lineno, None)
    # Some messages go on, after a line break, with the file's own text (an unfinished CDATA
    # section): the error stays one line, and does not repeat what the sender wrote.
    msg = _LIBXML_PLACE.sub("", exc.msg or str(exc)).partition("\n")[0].rstrip()
    # An error reported at the very end of the input means the document stopped
    # before it was complete: say so, it is the usual cause (interrupted transfer).
    at_end = line > end[0] or (line == end[0] and (col or 0) >= end[1] - 1)
    if exc.code in _TRUNCATED_CODES or "Premature end" in msg or (
            at_end and exc.code not in _NOT_TRUNCATION_CODES):
        kind, msg = "truncated", f"not well-formed: {msg} (the file ends early: truncated?)"
    elif exc.code in _ENCODING_CODES:
        kind, msg = "encoding", f"not valid UTF-8: {msg}"
    elif exc.code in _CHAR_CODES:
        kind, msg = "not-well-formed", f"not well-formed: a character XML 1.0 does not allow: {msg}"
    elif exc.code in _EMPTY_CODES and at_end:
        # Only when nothing but the prolog came before the end: "Start tag expected" at text
        # before the root element is not an empty file.
        kind, msg = "empty", f"no XML document: {msg}"
    else:
        kind, msg = "not-well-formed", f"not well-formed: {msg}"
    return XMLInputError(msg, kind=kind, file=file, line=line, column=col)


def _check_tree(tree: etree._ElementTree, file: str | None) -> etree._ElementTree:
    # Belt and braces: the prolog scan already refused these.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XMLInputError("DOCTYPE/DTD is not allowed", kind="doctype", file=file, line=1)
    root = tree.getroot()
    outside = [*root.itersiblings(preceding=True), *root.itersiblings()]
    for node in (*outside, *root.iter(etree.ProcessingInstruction, etree.Entity)):
        if isinstance(node, etree._ProcessingInstruction):
            raise XMLInputError(f"processing instruction <?{node.target} ...?> is not allowed",
                                kind="processing-instruction", file=file, line=node.sourceline)
        if isinstance(node, etree._Entity):
            raise XMLInputError(f"entity reference {node.text} is not allowed",
                                kind="doctype", file=file, line=node.sourceline)
    return tree


class _Nameless:
    """A file reader without a ``name``: given a file name, lxml reports some parse
    errors (bad encoding) as a bare OSError without line and column."""

    def __init__(self, raw):
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)


def _parse_stream(reader, keep_comments: bool, file: str | None) -> etree._ElementTree:
    tree = etree.parse(_Nameless(reader), _parser(keep_comments))
    if file:
        tree.docinfo.URL = file   # for later error messages (check_profile, verify)
    return tree


def parse_bytes(data: bytes, *, file: str | None = None,
                keep_comments: bool = False) -> etree._ElementTree:
    """Parse untrusted XML bytes.  ``file`` names the source in error messages."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_bytes() takes bytes: the encoding must be checked on the bytes")
    data = bytes(data)
    _scan_prolog(data, file, complete=True)
    if len(data) >= _LARGE:
        allocator.no_fastbins()     # its tree is millions of blocks: freeing them must not stall later
    try:
        if len(data) < _IN_ONE_CALL:
            # One libxml2 call with the GIL released: a stream parse takes the GIL back for every
            # 64 KB read, and waits for it while another thread runs Python (speculative.py).
            tree = etree.fromstring(data, _parser(keep_comments)).getroottree()
            if file:
                tree.docinfo.URL = file
        else:
            tree = _parse_stream(io.BytesIO(data), keep_comments, file)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, file, _end_position([data])) from None
    return _check_tree(tree, file)


class _Replayed:
    """A reader that gives back what was read ahead (up to the root's start tag) before the
    rest, and keeps the position: the end position for errors without keeping a streamed
    file's bytes."""

    def __init__(self, head: bytes, reader):
        self._head, self._reader = head, reader
        self.position = _Position()

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = (self._head, b"") if size < 0 else (self._head[:size], self._head[size:])
        else:
            out = self._reader.read(size)
        return self.position.add(out)


def _read_prolog(reader, file: str | None) -> bytes:
    """The first bytes of a stream, as many as it takes to check its prolog (_scan_prolog)."""
    head, size = b"", _CHUNK
    while True:
        chunk = reader.read(size)
        head += chunk
        if _scan_prolog(head, file, complete=not chunk):
            return head
        size *= 2                 # a long prolog costs O(n), not O(n^2)


def _root_tag(head: bytes, reader, seen: list[bytes]) -> str | None:
    """The root element's tag, reading on from `head` as far as its start tag; every byte
    read is appended to `seen` (to be parsed again)."""
    parser = etree.XMLPullParser(events=("start",), **_options(keep_comments=False))
    chunk = head
    while chunk:
        seen.append(chunk)
        parser.feed(chunk)
        for _, el in parser.read_events():
            return el.tag
        chunk = reader.read(_CHUNK)
    return None


def stream_children(source, root_tag: str, child_tag: str, *,
                    file: str | None = None) -> Iterator[etree._Element]:
    """The `child_tag` children of a `root_tag` document, each complete, in document order,
    parsed as parse_bytes would parse them but without keeping the tree: each child (and
    whatever precedes it) is freed once the next is asked for, so a 400 MB file streams in
    a few megabytes.  `source` is the document's bytes or a binary reader (a pipe: it is
    read once, front to back, never seeked).  Yields nothing if the root element is not
    `root_tag`.  Raises XMLInputError as parse_bytes does; the caller must treat what it
    yielded before an error as coming from a file that will be rejected."""
    reader = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    seen: list[bytes] = []
    try:
        if _root_tag(_read_prolog(reader, file), reader, seen) != root_tag:
            return
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, file, _end_position(seen)) from None
    stream = _Replayed(b"".join(seen), reader)
    del seen
    try:
        for _, el in etree.iterparse(stream, **_options(keep_comments=False), events=("end",), tag=child_tag):
            if el.getparent() is None or el.getparent().getparent() is not None:
                continue                      # only children of the root
            yield el
            el.clear(keep_tail=False)
            parent = el.getparent()
            while el.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, file, stream.position.end()) from None


def parse_file(path: str | Path, *, keep_comments: bool = False) -> etree._ElementTree:
    """Parse an untrusted XML file.

    The file is read through a Python file object, never by name: libxml2 would
    otherwise treat the name as a URL and transparently gunzip compressed input.
    """
    name = str(path)
    try:
        with open(path, "rb") as fh:
            _read_prolog(fh, name)
            fh.seek(0)
            try:
                tree = _parse_stream(fh, keep_comments, name)
            except etree.XMLSyntaxError as exc:
                raise _syntax_error(exc, name, _end_position(_read_chunks(fh))) from None
    except OSError as exc:
        raise XMLInputError(f"cannot read file: {exc.strerror or exc}", kind="unreadable",
                            file=name) from None
    return _check_tree(tree, name)


def parse(source: bytes | str | Path, *, keep_comments: bool = False) -> etree._ElementTree:
    """Bytes are a document, a str or Path is a file name."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return parse_bytes(source, keep_comments=keep_comments)
    return parse_file(source, keep_comments=keep_comments)
