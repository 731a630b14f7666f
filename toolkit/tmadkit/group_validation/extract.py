"""An MEF's or MGF's SMETS1Installation element -> the `entry` facts the Migration Group (Encrypted)
File data validation rules read (runtime/group_validation.py).

Facts are named after the elements, so a rule reads as its row does:

    entry.CHFIdentifier        text
    entry.EncryptedMasterKey   [{EncryptedKey: text, DeviceID: [text, ...]}, ...] (every one in
                               the entry's MasterKeyInformation)
    entry.SUAKeyDetails        [{EncryptedSUAKey: text, DeviceType: text, PublicKey: text,
                               SerialNumber: text}, ...] (each child present, by its name)

An MGF entry (`mgf_entry`):

    entry.CHFIdentifier        text
    entry.CHFDetail            {IMSI, IPAddr, DNSServer, PingServer, PreviousAPN: text,
                               SerialNumbers: {CHF: text, GPF: text, ...}} (each child present)

Texts are kept as written (not stripped): whether white space counts as empty is the check's
business.  Like the MCF's extraction it never raises: what the schema lets be missing is absent.
"""
from __future__ import annotations

from typing import Iterator

from lxml import etree

from ..xml.schema import NAMESPACE

_M = "{" + NAMESPACE + "}"
INSTALLATION = _M + "SMETS1Installation"


def _local(el) -> str:
    return etree.QName(el).localname


def entries(root) -> Iterator[etree._Element]:
    return root.iterchildren(INSTALLATION)


def entry(el) -> dict:
    out: dict = {"EncryptedMasterKey": [], "SUAKeyDetails": []}
    for child in el:
        tag = child.tag
        if tag == _M + "CHFIdentifier":
            out["CHFIdentifier"] = (child.text or "").strip()
        elif tag == _M + "MasterKeyInformation":
            for key in child.iterchildren(_M + "EncryptedMasterKey"):
                item: dict = {"DeviceID": []}
                for part in key:
                    if part.tag == _M + "DeviceID":
                        item["DeviceID"].append((part.text or "").strip())
                    elif part.tag == _M + "EncryptedKey":
                        item["EncryptedKey"] = part.text or ""
                out["EncryptedMasterKey"].append(item)
        elif tag == _M + "SUAKeyDetails":
            out["SUAKeyDetails"].append({_local(c): c.text or "" for c in child if isinstance(c.tag, str)})
    return out


def mgf_entry(el) -> dict:
    out: dict = {}
    for child in el:
        if child.tag == _M + "CHFIdentifier":
            out["CHFIdentifier"] = (child.text or "").strip()
        elif child.tag == _M + "CHFDetail":
            detail: dict = {}
            for part in child:
                if not isinstance(part.tag, str):
                    continue
                if part.tag == _M + "SerialNumbers":
                    detail["SerialNumbers"] = {_local(s): s.text or "" for s in part if isinstance(s.tag, str)}
                else:
                    detail[_local(part)] = part.text or ""
            out["CHFDetail"] = detail
    return out
