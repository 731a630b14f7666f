"""`tmadkit validate`: Table 5.9 in order, first failure wins, with real files, PKI and Stored Counters."""
from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

import pytest

from tmadkit.cli import main
from tmadkit.files.build import build
from tmadkit.files.tamper import resign_with, tamper
from tmadkit.smki import pki as pki_mod
from tmadkit.xml.schema import NAMESPACE

NOW = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
AT = "2026-03-01T12:30:00+00:00"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return pki_mod.init(tmp_path_factory.mktemp("pki") / "pki", now=NOW)


def _write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def _validate(capsys, *args) -> tuple[int, dict]:
    code = main(["validate", *map(str, args), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def run(pki, tmp_path, capsys):
    state = tmp_path / "state"

    def _run(path: Path, authenticator: str = "DCC", *extra: str):
        return _validate(capsys, path, "--as", authenticator, "--pki", pki.dir, "--state", state, "--at", AT, *extra)
    return _run


def test_a_valid_mcf_is_accepted_and_its_counter_is_stored(pki, tmp_path, run):
    f = build({"type": "MCF", "MCFCounter": 41, "installations": 2}, pki, now=NOW)
    path = _write(tmp_path, f.name, f.content)
    code, r = run(path)
    assert code == 0, r
    assert (r["file"], r["file_type"], r["authenticator"], r["accepted"], r["failure"]) == (f.name, "MCF", "DCC", True, None)
    steps = [s["step"] for s in r["steps"]]
    distinct = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
    assert distinct == ["5.9.1", "5.9.2", "5.9.3", "5.9.4", "5.9.1", "5.9.5-5.9.9"]   # Table 10.1 after 5.9.4
    assert {"TMAD-T10.1-RequestingPartyID-signer", "TMAD-T10.1-DeviceID"} <= {s["rule"] for s in r["steps"]}
    assert r["naming"]["status"] == "pass"
    # the same file again is a replay: rejected at the anti-replay step, with the clause's outcome
    code, again = run(path)
    assert code == 1 and not again["accepted"]
    failure = again["failure"]
    assert failure["rule"] == "TMAD-T5.7-MCF-authenticator" and failure["step"] == "5.9.5-5.9.9"
    assert "TMAD:T5.9/5.9.5" in failure["clauses"]
    assert failure["outcome"].endswith("discard it and raise an Incident.")


@pytest.mark.parametrize("op, step, rule", [
    ("add-doctype", "5.9.1", "TMAD-T5.9-5.9.1"),
    ("xxe", "5.9.1", "TMAD-T5.9-5.9.1"),
    ("billion-laughs", "5.9.1", "TMAD-T5.9-5.9.1"),
    ("truncate", "5.9.1", "TMAD-T5.9-5.9.1"),
    ("not-utf8", "5.9.1", "TMAD-T5.9-5.9.1"),
    ("schema-invalid", "5.9.1", "TMAD-T5.9-5.9.1"),
    ("second-signature", "5.9.1", "TMAD-T5.9-5.9.1"),
    ("flip-digest-byte", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("flip-signature-byte", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("der-signature-value", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("extra-transform", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("reference-uri", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("add-object", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("keyinfo-certificate", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("keyinfo-unknown-serial", "5.9.2", "TMAD-T5.9-5.9.2"),
    ("comment-in-signed-text", "5.9.2", "TMAD-T5.9-5.9.2"),
])
def test_hostile_and_broken_files_are_rejected_at_the_right_step(pki, tmp_path, run, op, step, rule):
    f = build({"type": "MCF", "installations": 1}, pki, now=NOW)
    code, r = run(_write(tmp_path, f.name, tamper(f.content, op, pki=pki)))
    assert code == 1 and not r["accepted"]
    assert (r["failure"]["step"], r["failure"]["rule"]) == (step, rule), r["failure"]
    assert r["failure"]["message"]


def test_an_xml_1_1_file_is_rejected_at_5_9_1(pki, tmp_path, run):
    """The XML declaration is not part of the signed (canonical) form, so a signed file relabelled
    1.1 still verifies: only the parser's version check stops it."""
    f = build({"type": "MCF", "installations": 1}, pki, now=NOW)
    assert f.content.startswith(b"<?xml version='1.0'")
    code, r = run(_write(tmp_path, f.name, f.content.replace(b"version='1.0'", b"version='1.1'", 1)))
    assert code == 1 and (r["failure"]["step"], r["failure"]["rule"]) == ("5.9.1", "TMAD-T5.9-5.9.1")
    assert f"{f.name}:1 at column 16 [TMAD:T5.9/5.9.1]: XML declaration says version='1.1'" in r["failure"]["message"]


G = bytes.fromhex("046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                  "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")   # P-256's base point


@pytest.mark.parametrize("point, reason", [
    (G[:-1] + b"\xf4", "the point is not on the curve P-256"),
    (b"\x04" + bytes(64), "the point is not on the curve P-256"),
    (b"\x07" + G[1:], "first octet 0x07 (hybrid form), required 0x04"),
], ids=["off-curve", "zero", "hybrid"])
@pytest.mark.parametrize("authenticator", ["DCC", "DCO"])
def test_an_mef_public_key_off_the_curve_or_not_uncompressed_is_refused(pki, tmp_path, run, point, reason,
                                                                         authenticator):
    """Signed, schema-valid (65 octets), but not Table 11.3B's uncompressed P-256 point."""
    f = build({"type": "MEF", "group_id": "DA", "installations": 1}, pki, now=NOW)

    def second_key(root):
        root.xpath("(//m:PublicKey)[2]", namespaces={"m": NAMESPACE})[0].text = base64.b64encode(point).decode()

    path = _write(tmp_path, f.name, resign_with(f.content, pki, None, second_key))
    code, r = run(path, authenticator)
    assert code == 1 and not r["accepted"]
    failure = r["failure"]
    assert (failure["step"], failure["rule"], failure["clause"]) == (
        "5.9.1", "TMAD-T11.3B-PublicKey", "TMAD:T11.3B/PublicKey within SUAKeyDetails")
    line = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "<PublicKey>" in text][1]
    assert failure["message"].startswith(f"{f.name}:{line}: /MigrationGroupEncrypted/SMETS1Installation/"
                                         f"SUAKeyDetails[2]/PublicKey is not the uncompressed form of a P-256 public key")
    assert reason in failure["message"]
    code, r = run(_write(tmp_path, f.name, f.content), authenticator)     # the file as built: real points
    assert code == 0 and r["accepted"], r["failure"]


@pytest.mark.parametrize("signer, step, rule", [
    ("requesting-party-wrong-role", "5.9.3", "TMAD-T5.5-MCF-accept"),
    ("s1sp-migration-signing", "5.9.3", "TMAD-T5.5-MCF-accept"),
    ("requesting-party-file-signing-expired", "5.9.4", "TMAD-T5.9-5.9.4"),
    ("requesting-party-file-signing-revoked", "5.9.4", "TMAD-T5.9-5.9.4"),
    ("requesting-party-untrusted-issuer", "5.9.4", "TMAD-T5.9-5.9.4"),
])
def test_certificate_failures(pki, tmp_path, run, signer, step, rule):
    f = build({"type": "MCF", "signer": signer, "installations": 1}, pki, now=NOW)
    code, r = run(_write(tmp_path, f.name, f.content))
    assert (r["failure"]["step"], r["failure"]["rule"]) == (step, rule), r["failure"]


def test_requesting_party_id_must_be_the_signers_entity_identifier(pki, tmp_path, run):
    f = build({"type": "MGF", "requesting_party": "90-B3-D5-1F-30-03-00-00", "installations": 1}, pki, now=NOW)
    code, r = run(_write(tmp_path, f.name, f.content))
    assert r["failure"]["rule"] == "TMAD-T10.1-RequestingPartyID-signer"
    assert r["readings"]["requesting-party-id-scope"] == {
        "applied": "TMAD-T10.1-RequestingPartyID-signer", "not_applied": ["TMAD-T10.1-RequestingPartyID-all-files"]}


def test_the_commissioning_party_also_applies_clause_6_1(pki, tmp_path, run):
    f = build({"type": "MCF", "to_be_commissioned_by_dcc": False, "installations": 1}, pki, now=NOW)
    path = _write(tmp_path, f.name, f.content)
    code, r = run(path, "CP")
    assert code == 1 and r["failure"]["rule"] == "TMAD-6.1-to-be-commissioned" and r["failure"]["action"] == "discard_file"
    code, r = run(path, "DCC")
    assert code == 0 and r["accepted"]


def test_every_file_type_is_accepted_from_its_own_signer(pki, tmp_path, run):
    for n, t in enumerate(("MCF", "MGF", "MEF", "MVF", "SCF", "COF")):
        f = build({"type": t, "installations": 1}, pki, now=NOW)
        extra = ["--fact", "supplier_signifier=TEST", "--fact", "related.scf_supplier_signifier=TEST"]
        code, r = run(_write(tmp_path, f.name, f.content), "DCC", *extra)
        assert r["accepted"], (t, r["failure"])
        assert r["naming"]["status"] == "pass", (t, r["naming"])


def test_a_misnamed_file_is_reported(pki, tmp_path, run):
    f = build({"type": "MGF", "installations": 1}, pki, now=NOW)
    code, r = run(_write(tmp_path, "MGF_wrong.xml", f.content))
    assert code == 1 and r["accepted"] and r["naming"]["status"] == "fail"
    assert r["naming"]["rule"] == "TMAD-T10.2-MGF" and "required 'MGF_" in r["naming"]["message"]


def test_text_output_names_step_rule_and_clause(pki, tmp_path, capsys):
    f = build({"type": "MCF", "installations": 1}, pki, now=NOW)
    path = _write(tmp_path, f.name, tamper(f.content, "flip-signature-byte"))
    assert main(["validate", str(path), "--as", "DCO", "--pki", str(pki.dir), "--state", str(tmp_path / "s"), "--at", AT]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"REJECTED {f.name} at step 5.9.2 [TMAD-T5.9-5.9.2; TMAD:T5.9/5.9.2]")


def test_bad_invocations_exit_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.xml"), "--as", "DCC", "--state", str(tmp_path)]) == 2
    assert "missing.xml: no such file" in capsys.readouterr().err
    assert main(["validate", str(tmp_path), "--as", "DCC", "--at", "2026-03-01T12:00:00"]) == 2
    assert "no UTC offset" in capsys.readouterr().err


def test_a_bad_argument_anywhere_stops_the_run_before_any_file_is_consumed(pki, tmp_path, capsys):
    f = build({"type": "MCF", "installations": 1}, pki, now=NOW)
    good = _write(tmp_path, f.name, f.content)
    state = tmp_path / "state"
    options = ["--as", "DCC", "--pki", str(pki.dir), "--state", str(state)]
    base = ["validate", str(good), *options, "--at", AT]
    a_file = _write(tmp_path, "not-a-dir", b"")
    world = str(Path(__file__).resolve().parents[1] / "spec" / "world" / "example")
    for argv, message in (
            (["validate", str(good), *options, "--at", ""], "--at '' is not an ISO 8601 date-time"),
            (["validate", str(good), str(tmp_path / "missing.xml"), *options, "--at", AT], "missing.xml: no such file"),
            (["validate", str(good), str(tmp_path), *options, "--at", AT], "is a directory, not a migration file"),
            (base + ["--world", world, "--emit-mvf", str(a_file)], "--emit-mvf: not a directory")):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
        assert not (state / "counters.sqlite").exists(), argv      # the good MCF's counter is not stored
    with pytest.raises(SystemExit):
        main(base + ["--mvf-counter", "-1"])
    assert "outside 0 .. 2^64-1" in capsys.readouterr().err
    assert main(base) == 0                                          # and the file is still fresh


def test_a_rejected_or_malformed_file_leaves_no_state_behind(pki, tmp_path, capsys):
    f = build({"type": "MCF", "installations": 1}, pki, now=NOW)
    malformed = _write(tmp_path, "MCF_malformed.xml", b"<?xml version='1.0'?>\n<MigrationCommon")
    forged = _write(tmp_path, "MCF_forged.xml", tamper(f.content, "flip-signature-byte"))
    state = tmp_path / "fresh" / "state"

    def validate(*paths: Path) -> int:
        return main(["validate", *map(str, paths), "--as", "DCC", "--pki", str(pki.dir), "--state", str(state),
                     "--at", AT])

    assert validate(malformed) == 1 and validate(forged) == 1 and validate(malformed, forged) == 1
    assert "REJECTED MCF_malformed.xml at step 5.9.1" in capsys.readouterr().out
    assert not (tmp_path / "fresh").exists()          # no folder, no database, no counter
    state.mkdir(parents=True)
    assert validate(malformed, forged) == 1
    assert list(state.iterdir()) == []                # an existing folder is left as it was
    good = _write(tmp_path, f.name, f.content)
    assert validate(good) == 0                        # the first counter creates the store
    assert (state / "counters.sqlite").is_file()
    assert validate(good) == 1 and "5.9.5" in capsys.readouterr().out     # and it is used


def test_a_state_that_is_not_a_database_is_one_line(pki, tmp_path, capsys):
    f = build({"type": "MCF", "installations": 1}, pki, now=NOW)
    good = _write(tmp_path, f.name, f.content)
    state = tmp_path / "state"
    state.mkdir()
    (state / "counters.sqlite").write_bytes(b"this is not sqlite" * 100)
    assert main(["validate", str(good), "--as", "DCC", "--pki", str(pki.dir), "--state", str(state), "--at", AT]) == 2
    err = capsys.readouterr().err
    assert "is not usable" in err and "Traceback" not in err
