"""`tmadkit validate` as DCO or S1SP: after Table 5.9, the Migration Group (Encrypted) File data
validation of each installation of an accepted MEF (with its MCF) or MGF."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from tmadkit.cli import main
from tmadkit.files.build import build
from tmadkit.files.tamper import resign_with
from tmadkit.smki import pki as pki_mod
from tmadkit.xml.schema import NAMESPACE

NOW = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
AT = "2026-03-01T12:30:00+00:00"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return pki_mod.init(tmp_path_factory.mktemp("pki") / "pki", now=NOW)


@pytest.fixture
def validate(pki, tmp_path, capsys):
    def _validate(files, authenticator: str = "DCO") -> dict:
        paths = []
        for f in files:
            (tmp_path / f.name).write_bytes(f.content)
            paths.append(str(tmp_path / f.name))
        code = main(["validate", *paths, "--as", authenticator, "--pki", str(pki.dir),
                     "--state", str(tmp_path / "state"), "--at", AT, "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0, out
        return {r["file_type"]: r for r in (out if isinstance(out, list) else [out])}
    return _validate


def _edited(f, pki, select: str, text: str):
    def edit(root):
        for node in root.xpath(select, namespaces={"m": NAMESPACE}):
            node.text = text
    return dataclasses.replace(f, content=resign_with(f.content, pki, None, edit))


def _files(pki, group: str, mcf_installations, mef_installations, mgf: bool = False):
    mcf = build({"type": "MCF", "group_id": group, "installations": mcf_installations}, pki, now=NOW)
    other = build({"type": "MGF" if mgf else "MEF", "group_id": group, "installations": mef_installations},
                  pki, now=NOW)
    return mcf, other


def test_the_dco_refuses_the_installation_with_an_empty_public_key_and_passes_the_other(pki, validate):
    mcf, mef = _files(pki, "DA", [{"gsme": True}, {"gsme": False}], [{"gsme": True}, {"gsme": False}])
    mef = _edited(mef, pki, "(//m:SMETS1Installation)[1]/m:SUAKeyDetails[2]/m:PublicKey", "")
    g = validate([mcf, mef])["MEF"]["group_validation"]
    assert g["installations_failed"] == 1
    first, second = g["installations"]
    assert first["failure"]["step"] == "16.7.5" and first["failure"]["rule"] == "TMAD-T16.7-16.7.5-dco"
    assert "PublicKey is empty" in first["failure"]["detail"]
    assert second["accepted"] and second["failure"] is None
    assert g["readings"]["table-16-7-actor"]["applied"] == "TMAD-T16.7-16.7.1-dco"


def test_a_gsme_key_the_mcf_does_not_call_for_fails_16_7_4(pki, validate):
    mcf, mef = _files(pki, "DA", [{"gsme": False}], [{"gsme": True}])
    (inst,) = validate([mcf, mef])["MEF"]["group_validation"]["installations"]
    assert inst["failure"]["step"] == "16.7.4"


def test_an_aa_entry_without_the_esme_s_master_key_fails_12_7_1(pki, validate):
    mcf, mef = _files(pki, "AA", [{"gsme": True}], [{"gsme": True}])
    mef = _edited(mef, pki, "(//m:EncryptedMasterKey)[1]/m:DeviceID[3]", "00-DB-12-FF-FF-FF-FF-A2")
    (inst,) = validate([mcf, mef])["MEF"]["group_validation"]["installations"]
    assert (inst["failure"]["step"], inst["failure"]["rule"]) == ("12.7.1", "TMAD-T12.7-12.7.1-esme-key")


def test_an_mef_without_its_mcf_is_not_checked_and_says_why(pki, validate):
    _, mef = _files(pki, "DA", [{"gsme": True}], [{"gsme": True}])
    g = validate([mef])["MEF"]["group_validation"]
    assert "no accepted MCF with the same Migration Header" in g["not_run"]


def test_the_s1sp_applies_none_of_table_16_7_under_the_dco_reading_and_says_so(pki, validate):
    mcf, mef = _files(pki, "DA", [{"gsme": True}], [{"gsme": True}])
    g = validate([mcf, mef], "S1SP")["MEF"]["group_validation"]
    assert "table-16-7-actor: TMAD-T16.7-16.7.1-dco" in g["not_run"]


def test_the_s1sp_refuses_an_mgf_installation_without_previous_apn(pki, validate):
    _, mgf = _files(pki, "BA", [None], [None, {"comms": {"previous_apn": None}}], mgf=True)
    g = validate([mgf], "S1SP")["MGF"]["group_validation"]
    assert [i["failure"] and i["failure"]["step"] for i in g["installations"]] == [None, "12.6.1"]


def test_text_output_names_the_installation_step_and_rule(pki, tmp_path, capsys):
    mcf, mef = _files(pki, "DA", [{"gsme": False}], [{"gsme": True}])
    paths = []
    for f in (mcf, mef):
        (tmp_path / f.name).write_bytes(f.content)
        paths.append(str(tmp_path / f.name))
    assert main(["validate", *paths, "--as", "DCO", "--pki", str(pki.dir), "--state", str(tmp_path / "s"),
                 "--at", AT]) == 0
    out = capsys.readouterr().out
    assert "mef-validation: 0 of 1 installation(s) passed" in out
    assert "step 16.7.4 [TMAD-T16.7-16.7.4-dco]" in out
