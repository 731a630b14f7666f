"""Step 5.9.2's verification started once the file is parsed, beside 5.9.1's XSD validation
(ReceivedFile.verify_ahead): the same verdicts as verifying in the step, nothing started for a
file 5.9.1 or the profile refuses, and nothing left running when the file is done with."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest
from cryptography import x509
from lxml import etree

from tmadkit.authentication.received import ReceivedFile
from tmadkit.authentication.validate import load_context, validate_file
from tmadkit.cli import main
from tmadkit.commands import validate as validate_command
from tmadkit.files.build import build
from tmadkit.files.tamper import TAMPER_OPS, tamper
from tmadkit.runtime import files
from tmadkit.smki import pki as pki_mod
from tmadkit.world import example_dir
from tmadkit.xml import schema, signature

from test_common_validation import elec

NOW = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
AT = datetime.fromisoformat("2026-03-01T12:30:00+00:00")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return pki_mod.init(tmp_path_factory.mktemp("pki") / "pki", now=NOW)


@pytest.fixture(scope="module")
def mcf(pki):
    return build({"type": "MCF", "installations": 3}, pki, now=NOW)


def _context(pki, tmp_path, name: str):
    return load_context("DCC", pki_dir=pki.dir, state_dir=tmp_path / name, at=AT)


@pytest.fixture
def verifications(monkeypatch):
    """Every signature.verify call, with the name of the thread that made it."""
    calls: list[str] = []
    real = signature.verify

    def counted(*args, **kw):
        calls.append(threading.current_thread().name)
        return real(*args, **kw)

    monkeypatch.setattr(signature, "verify", counted)
    return calls


@pytest.mark.parametrize("op", [None, *sorted(TAMPER_OPS)])
def test_verifying_ahead_gives_the_verdicts_of_verifying_in_the_step(pki, mcf, tmp_path, op):
    content = mcf.content if op is None else tamper(mcf.content, op, pki=pki)
    in_step = validate_file(ReceivedFile(mcf.name, content), _context(pki, tmp_path, "a"))
    received = ReceivedFile(mcf.name, content)
    ctx = _context(pki, tmp_path, "b")
    files.verify_ahead(received, ctx.registry)
    ahead = validate_file(received, ctx)
    received.settle()
    assert ahead == in_step


def test_a_verification_ahead_is_collected_by_step_5_9_2_not_run_again(pki, mcf, tmp_path, verifications):
    received = ReceivedFile(mcf.name, mcf.content)
    ctx = _context(pki, tmp_path, "s")
    files.verify_ahead(received, ctx.registry)
    result = validate_file(received, ctx)
    assert result["accepted"], result["failure"]
    assert verifications == ["tmadkit-5.9.2"]      # once, in its own thread


@pytest.mark.parametrize("op", ["truncate", "add-doctype", "strip-signature", "second-signature",
                                "reference-uri", "keyinfo-unknown-serial"])
def test_nothing_is_verified_ahead_for_a_file_that_does_not_parse_or_sign_as_the_profile_says(
        pki, mcf, tmp_path, verifications, op):
    received = ReceivedFile(mcf.name, tamper(mcf.content, op, pki=pki))
    files.verify_ahead(received, _context(pki, tmp_path, "s").registry)
    received.settle()
    assert verifications == []


def test_a_file_5_9_1_rejects_is_verified_ahead_but_the_verdict_is_never_read(pki, mcf, tmp_path, capsys,
                                                                                verifications, monkeypatch):
    monkeypatch.setattr(validate_command, "usable_cores", lambda: 2)
    collected: list = []
    real = ReceivedFile.verified
    monkeypatch.setattr(ReceivedFile, "verified", lambda self, cert: collected.append(cert) or real(self, cert))
    path = tmp_path / mcf.name
    path.write_bytes(tamper(mcf.content, "schema-invalid", pki=pki))
    verifications.clear()                       # the tampering re-signs, and sign() verifies what it made
    code = main(["validate", str(path), "--as", "DCC", "--pki", str(pki.dir), "--state", str(tmp_path / "s"),
                 "--at", AT.isoformat(), "--json"])
    assert code == 1 and '"step": "5.9.1"' in capsys.readouterr().out
    assert verifications == ["tmadkit-5.9.2"] and collected == []
    assert not [t for t in threading.enumerate() if t.name == "tmadkit-5.9.2"]   # waited for, not left running


def test_a_verification_is_worked_out_once_and_its_error_given_each_time(pki, mcf, verifications):
    received = ReceivedFile(mcf.name, tamper(mcf.content, "flip-digest-byte", pki=pki))
    signer = next(e for e in pki.entries if e.role == "requestingPartyFileSigning" and e.negative is None)
    cert = x509.load_pem_x509_certificate(signer.certificate.read_bytes())
    received.verify_ahead(cert)
    received.verify_ahead(cert)                  # already under way: not started twice
    errors = []
    for _ in range(2):
        with pytest.raises(signature.VerificationFailed) as exc:
            received.verified(cert)
        errors.append(exc.value)
    assert errors[0] is errors[1] and errors[0].reason == "digest"
    assert verifications == ["tmadkit-5.9.2"]
    good = ReceivedFile(mcf.name, mcf.content)
    assert good.verified(cert) is good.verified(cert)
    assert verifications == ["tmadkit-5.9.2", threading.current_thread().name]   # without ahead: in the caller


def test_release_waits_for_a_verification_ahead_and_drops_it(pki, mcf):
    received = ReceivedFile(mcf.name, mcf.content)
    signer = next(e for e in pki.entries if e.role == "requestingPartyFileSigning" and e.negative is None)
    received.verify_ahead(x509.load_pem_x509_certificate(signer.certificate.read_bytes()))
    received.release()
    assert not [t for t in threading.enumerate() if t.name == "tmadkit-5.9.2"]
    with pytest.raises(RuntimeError, match="released"):
        received.tree  # noqa: B018


def test_xsd_validation_beside_the_verification_leaves_the_document_as_parsed(pki, mcf):
    """What makes running them side by side safe: neither writes to the tree (schema.validate is
    given the document's own root, so lxml makes no stand-in document for it)."""
    received = ReceivedFile(mcf.name, mcf.content)
    before = etree.tostring(received.tree)
    signer = next(e for e in pki.entries if e.role == "requestingPartyFileSigning" and e.negative is None)
    cert = x509.load_pem_x509_certificate(signer.certificate.read_bytes())
    received.verify_ahead(cert)
    assert schema.validate(received.tree, file_type="MCF") == []
    assert received.verified(cert).root is received.tree.getroot()
    assert etree.tostring(received.tree) == before


@pytest.mark.parametrize("cores, verified_in", [(1, "MainThread"), (2, "MainThread"), (3, "tmadkit-5.9.2")])
def test_the_dcc_verifies_ahead_only_where_a_core_is_free_beside_table_5_10s_worker(
        pki, tmp_path, capsys, monkeypatch, verifications, cores, verified_in):
    monkeypatch.setattr(validate_command, "usable_cores", lambda: cores)
    f = build({"type": "MCF", "MCFCounter": 7, "group_id": "AA", "installations": [elec()]}, pki, now=NOW)
    (tmp_path / f.name).write_bytes(f.content)
    verifications.clear()
    code = main(["validate", str(tmp_path / f.name), "--as", "DCC", "--world", str(example_dir()),
                 "--pki", str(pki.dir), "--state", str(tmp_path / "s"), "--at", AT.isoformat(), "--json"])
    assert code == 0, capsys.readouterr().out
    assert verifications == [verified_in]
