"""Hardened XML parsing (TMAD Table 5.9 step 5.9.1): hostile input is refused with an
InputError naming file, line and column, without reading any external resource.

External vectors are read in place from paths.vectors_dir() (GPL/third-party data
is never copied into this repository) and the tests skip when they are absent.
"""
from __future__ import annotations

import socket
import select

import pytest
from lxml import etree

from _vectors import vector
from tmadkit.errors import InputError
from tmadkit.xml import safe
from tmadkit.xml.safe import XMLInputError




def refused(kind: str, fn, *args, **kw) -> XMLInputError:
    with pytest.raises(XMLInputError) as info:
        fn(*args, **kw)
    err = info.value
    assert err.kind == kind, str(err)
    assert err.clause == "TMAD:T5.9/5.9.1"
    # One clean error: the libxml2 exception is not chained (no traceback noise).
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    return err


# --------------------------------------------------------------------------- vectors

DEFUSED_ATTACKS = ["cyclic.xml", "dtd.xml", "external.xml", "external_file.xml",
                   "quadratic.xml", "xmlbomb.xml", "xmlbomb2.xml"]


@pytest.mark.parametrize("name", DEFUSED_ATTACKS)
def test_defusedxml_attacks_refused_at_the_doctype(name):
    path = vector("xmldsig", "signxml-defusedxml", name)
    err = refused("doctype", safe.parse_file, path)
    assert err.file == str(path) and err.line is not None and err.column == 1
    assert "DOCTYPE" in str(err)


def test_defusedxml_simple_is_fine():
    tree = safe.parse_file(vector("xmldsig", "signxml-defusedxml", "simple.xml"))
    assert tree.getroot().tag == "root"
    # The leading comment is dropped: comments are never signed content.
    assert tree.getroot().getprevious() is None


def test_defusedxml_simple_ns_refused_for_its_processing_instruction():
    err = refused("processing-instruction", safe.parse_file,
                  vector("xmldsig", "signxml-defusedxml", "simple-ns.xml"))
    assert (err.line, err.column) == (1, 1)


def test_dcc_xxe_refused_before_any_entity_is_read():
    path = vector("dccboxed", "signing-tool", "samples", "duis-xxe.xml")
    err = refused("doctype", safe.parse_file, path)
    assert err.line == 2
    assert "root:" not in str(err)


# --------------------------------------------------------------------------- XXE, network

def test_external_entity_file_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doc = (f'<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]><r>&x;</r>').encode()
    err = refused("doctype", safe.parse_bytes, doc, file="xxe.xml")
    assert "TOP-SECRET" not in str(err)


def test_second_line_parser_settings_do_not_expand_entities(tmp_path):
    """Even if the prolog scan were bypassed, the parser itself neither reads
    external entities nor expands internal ones."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doc = (f'<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">'
           f'<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
           f'<r><s>&x;</s><t>&b;</t></r>').encode()
    tree = etree.fromstring(doc, safe._parser(keep_comments=False)).getroottree()
    assert b"TOP-SECRET" not in etree.tostring(tree)
    assert b"AAAAAAAAAA" not in etree.tostring(tree.getroot())
    with pytest.raises(XMLInputError):      # ...and the tree check refuses the result
        safe._check_tree(tree, "bypass.xml")


def test_no_network_fetch_for_external_dtd_or_entity():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        url = "http://127.0.0.1:%d/x" % listener.getsockname()[1]
        for doc in (f'<!DOCTYPE r SYSTEM "{url}"><r/>',
                    f'<!DOCTYPE r [<!ENTITY e SYSTEM "{url}">]><r>&e;</r>'):
            refused("doctype", safe.parse_bytes, doc.encode(), file="net.xml")
            # Also the raw parser configuration: no_network, no DTD loading.
            try:
                etree.fromstring(doc.encode(), safe._parser(keep_comments=False))
            except etree.XMLSyntaxError:
                pass
        readable, _, _ = select.select([listener], [], [], 0.2)
        assert not readable, "the parser opened a network connection"
    finally:
        listener.close()


# --------------------------------------------------------------------------- malformed

def test_truncated_file(tmp_path):
    f = tmp_path / "cut.xml"
    f.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n<a>\n  <b>one</b>\n  <c>tw')
    err = refused("truncated", safe.parse_file, f)
    assert err.file == str(f) and err.line == 4 and err.column
    assert f"{f}:4 at column" in str(err) and "truncated" in str(err)


@pytest.mark.parametrize("cut", [50, 200, 777, -3, -1])
def test_truncated_real_file_at_many_points(tmp_path, cut):
    data = vector("dccboxed", "signing-tool", "samples", "read-inventory-response-5.4.xml").read_bytes()
    f = tmp_path / "cut.xml"
    f.write_bytes(data[:cut])
    refused("truncated", safe.parse_file, f)


@pytest.mark.parametrize("cut", [2, 3, 5, 6, 10, 20, 38, 39, 40, 51])
def test_a_file_cut_inside_its_xml_declaration_is_named_truncated(tmp_path, cut):
    # libxml2 calls "<?xml" alone a processing instruction and a cut after "version" a malformed
    # declaration; the cause, an interrupted transfer, is what the sender needs to hear
    data = vector("dccboxed", "signing-tool", "samples", "read-inventory-response-5.4.xml").read_bytes()
    assert data.index(b"?>") == 52 and cut < 52
    f = tmp_path / "cut.xml"
    f.write_bytes(data[:cut])
    for err in (refused("truncated", safe.parse_bytes, data[:cut], file="cut.xml"),
                refused("truncated", safe.parse_file, f)):
        assert "ends inside its XML declaration (truncated?)" in str(err) and (err.line, err.column) == (1, cut + 1)


def test_an_unfinished_declaration_followed_by_markup_is_not_called_truncated():
    for data in (b'<?xml version="1.0" <a/>', b'<?xml version="1.0"\n<a>x</a>'):
        err = refused("not-well-formed", safe.parse_bytes, data, file="d.xml")
        assert "truncated" not in str(err) and "'?>' expected" in str(err)


def test_not_utf8_bytes(tmp_path):
    f = tmp_path / "latin1.xml"
    f.write_bytes('<?xml version="1.0"?>\n<a>\n<b>caf\u00e9</b></a>'.encode("latin-1"))
    err = refused("encoding", safe.parse_file, f)
    assert err.line == 3 and err.column and "UTF-8" in str(err)


@pytest.mark.parametrize("data,why", [
    ('<?xml version="1.0" encoding="ISO-8859-1"?><a/>'.encode("latin-1"), "ISO-8859-1"),
    ("<a>x</a>".encode("utf-16"), "UTF-16"),
    ("<a>x</a>".encode("utf-16-le"), "UTF-16"),
    (b"\x00\x00\xfe\xff" + "<a/>".encode("utf-32-be"), "UTF-32"),
    # without a byte order mark libxml2 detects UTF-32 itself: it must never get to
    ("<?xml version='1.0' encoding='UTF-32'?><a/>".encode("utf-32-be"), "UTF-32"),
    ("<?xml version='1.0' encoding='UTF-32'?><a/>".encode("utf-32-le"), "UTF-32"),
    ('<!DOCTYPE r [<!ENTITY % p SYSTEM "/dev/zero"> %p;]><r/>'.encode("utf-32-be"), "UTF-32"),
])
def test_other_encodings_refused(data, why):
    err = refused("encoding", safe.parse_bytes, data, file="enc.xml")
    assert why in str(err)
    with pytest.raises(safe.XMLInputError, match=why):      # the streaming parser as well
        list(safe.stream_children(data, "a", "b", file="enc.xml"))


@pytest.mark.parametrize("declaration", [b'<?xml version="1.1" encoding="UTF-8"?>',
                                         b"<?xml version='1.1'?>",
                                         b'\xef\xbb\xbf<?xml version="1.1"?>',
                                         b'<?xml version = "1.5" standalone="yes"?>'])
def test_only_xml_1_0_is_accepted(tmp_path, declaration):
    """libxml2 parses a 1.1 (or 1.5) declaration as XML 1.1; migration files are XML 1.0."""
    data = declaration + b"\n<a><b>x</b></a>"
    f = tmp_path / "v11.xml"
    f.write_bytes(data)
    column = data.index(b"1.", data.index(b"version")) - data.startswith(b"\xef\xbb\xbf") * 3 + 1
    for err in (refused("version", safe.parse_bytes, data, file="v11.xml"), refused("version", safe.parse_file, f)):
        assert (err.line, err.column) == (1, column)
        assert "version='1." in str(err) and "XML 1.0" in str(err)
    with pytest.raises(XMLInputError, match="XML 1.0"):       # the streaming parser as well
        list(safe.stream_children(data, "a", "b", file="v11.xml"))


def test_a_byte_order_mark_is_not_a_column():
    """Prolog errors count columns as libxml2 (and an editor) does: from after the BOM."""
    data = b'<?xml version="1.0" encoding="latin1"?><a/>'
    plain = refused("encoding", safe.parse_bytes, data, file="x.xml")
    marked = refused("encoding", safe.parse_bytes, b"\xef\xbb\xbf" + data, file="x.xml")
    assert (plain.line, plain.column) == (marked.line, marked.column) == (1, 20)


def test_xml_1_0_with_or_without_a_declaration_is_fine():
    for data in (b'<?xml version="1.0"?><a><b>x</b></a>', b"<?xml version='1.0' encoding='UTF-8'?><a><b>x</b></a>",
                 b"<a><b>x</b></a>"):
        assert safe.parse_bytes(data).getroot()[0].text == "x"
        assert [el.text for el in safe.stream_children(data, "a", "b")] == ["x"]


def test_utf8_with_bom_and_declaration_is_fine():
    tree = safe.parse_bytes(b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><a>\xc3\xa9</a>')
    assert tree.getroot().text == "\u00e9"


def test_doctype_file(tmp_path):
    f = tmp_path / "dtd.xml"
    f.write_bytes(b'<?xml version="1.0"?>\n<!-- x -->\n<!DOCTYPE a>\n<a/>')
    err = refused("doctype", safe.parse_file, f)
    assert (err.line, err.column) == (3, 1)


def test_doctype_after_a_long_prolog_is_still_found(tmp_path):
    """The prolog is scanned in growing chunks; a DOCTYPE beyond the first is found."""
    f = tmp_path / "long.xml"
    prolog = b"<!--" + b"x" * 200_000 + b"-->\n" * 1
    f.write_bytes(prolog + b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>")
    refused("doctype", safe.parse_file, f)
    f.write_bytes(prolog + b"<a>ok</a>")
    assert safe.parse_file(f).getroot().text == "ok"


@pytest.mark.parametrize("doc", [b"<a><?xml-stylesheet href='x.xsl'?></a>",
                                 b"<?xml-stylesheet href='x.xsl'?><a/>",
                                 b"<a/><?pi after?>"])
def test_processing_instructions_refused(doc):
    refused("processing-instruction", safe.parse_bytes, doc, file="pi.xml")


def test_not_well_formed_and_empty(tmp_path):
    err = refused("not-well-formed", safe.parse_bytes, b"<a>\n<b></a>", file="bad.xml")
    assert err.line == 2 and "bad.xml:2 at column" in str(err)
    refused("empty", safe.parse_bytes, b"", file="empty.xml")
    refused("not-well-formed", safe.parse_bytes, b"<a/><b/>", file="two-roots.xml")
    refused("not-well-formed", safe.parse_bytes, b"<a>&nbsp;</a>", file="entity.xml")


@pytest.mark.parametrize("data, line, kind, says, not_said", [
    # valid UTF-8 of a control character: a character XML forbids, not an encoding problem
    (b"<a>\n<b>\x01</b></a>", 2, "not-well-formed", "a character XML 1.0 does not allow", "UTF-8"),
    # text before the root element: not an empty file
    (b"MCF follows\n<a/>", 1, "not-well-formed", "Start tag expected", "no XML document"),
    # a declaration after a blank line: not a processing instruction
    (b'\n<?xml version="1.0"?><a/>', 2, "not-well-formed", "XML declaration is allowed only at the very start",
     "processing instruction"),
    # libxml2 follows this message with the section's text: the error stays one line, without it
    (b"<a>\n<![CDATA[sender's text\nmore", 3, "truncated", "CData section not finished", "sender's text"),
], ids=["control-character", "text-before-root", "late-declaration", "unfinished-cdata"])
def test_messages_say_what_is_wrong(tmp_path, data, line, kind, says, not_said):
    f = tmp_path / "m.xml"
    f.write_bytes(data)
    for err in (refused(kind, safe.parse_bytes, data, file="m.xml"), refused(kind, safe.parse_file, f)):
        assert says in str(err) and not_said not in str(err) and "\n" not in str(err), str(err)
        assert err.line == line and err.column
    refused("empty", safe.parse_bytes, b'<?xml version="1.0"?>\n  \n', file="blank.xml")   # this one is empty


@pytest.mark.parametrize("compress, name", [
    ("gzip", "gzip"), ("bz2", "bzip2"), ("lzma", "xz"),
])
def test_a_compressed_file_is_named_as_compressed(tmp_path, compress, name):
    import importlib

    data = importlib.import_module(compress).compress(b'<?xml version="1.0" encoding="UTF-8"?>\n<a/>\n')
    f = tmp_path / "m.xml"
    f.write_bytes(data)
    for err in (refused("encoding", safe.parse_bytes, data, file="m.xml"), refused("encoding", safe.parse_file, f)):
        assert f"file is {name}-compressed" in str(err) and "decompress it first" in str(err), str(err)
        assert "NUL" not in str(err)


def test_a_zip_archive_is_named_as_compressed(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("MCF.xml", "<a/>")
    err = refused("encoding", safe.parse_bytes, (tmp_path / "m.zip").read_bytes(), file="m.zip")
    assert "file is zip-compressed" in str(err), str(err)


def test_unreadable_file(tmp_path):
    err = refused("unreadable", safe.parse_file, tmp_path / "missing.xml")
    assert isinstance(err, InputError) and "missing.xml" in str(err)


def test_str_is_not_accepted_as_a_document():
    with pytest.raises(TypeError):
        safe.parse_bytes("<a/>")


# --------------------------------------------------------------------------- behaviour

def test_comments_are_removed_so_readers_see_signed_text():
    tree = safe.parse_bytes(b"<a><code>I<!--injected-->0</code></a>")
    assert tree.getroot()[0].text == "I0"
    kept = safe.parse_bytes(b"<a><code>I<!--injected-->0</code></a>", keep_comments=True)
    assert kept.getroot()[0].text == "I"          # the classic naive-reader pitfall


def test_huge_text_node_is_accepted():
    """A 300 MB migration file can hold text nodes beyond libxml2's 10 MB default."""
    big = b"A" * (12 * 1024 * 1024)
    tree = safe.parse_bytes(b"<a><b>" + big + b"</b></a>")
    assert len(tree.getroot()[0].text) == len(big)


def test_file_name_is_recorded_for_later_errors(tmp_path):
    f = tmp_path / "ok.xml"
    f.write_bytes(b"<a/>")
    assert safe.parse_file(f).docinfo.URL == str(f)
