"""Clause 5.10(b)-(d): the Migration Common Validation File for an authenticated MCF.

(b) the Migration Header has the MCF's values (RequestingPartyID, MCFCounter; the MCF's
GroupID is carried too); (c) one SMETS1Installation per MCF installation, in MCF order,
identified by the CHF's DeviceID (CHFIdentifier, schema decision D2), with a FailedCheck
{FailedStepNumber, SupportingData} per failed Table 5.10 step; (d) signed.  Who creates and
signs the MVF is disputed (tmad-text-defects #5, rules/tmad/table-5.7.yaml question
`mvf-creator`): both readings require the Remote Party Role Table 5.5 gives,
s1SPMigrationSigning, so the file is signed with the PKI entry of that role, and its
ReportingPartyID is that certificate's Entity Identifier (Table 10.1).  The name comes from
the Table 10.2 rule's file_name predicate, as tmadkit.files.build names files.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from lxml import etree

from ..errors import InputError
from ..files.build import TMAD_NAMES, table_10_2_name
from ..smki import roles
from ..smki.pki import Entry, Pki
from ..xml import schema, signature
from ..xml.schema import DS_NAMESPACE, NAMESPACE
from .run import InstallationResult

_M = "{" + NAMESPACE + "}"
_DS = "{" + DS_NAMESPACE + "}"
MVF_ROLE = roles.SIGNING_ROLE_FOR[TMAD_NAMES["MVF"]]


@dataclass(frozen=True)
class EmittedMVF:
    name: str
    content: bytes
    signer: str                 # PKI entry name
    naming_rule: str
    header: dict


def signer_for(pki: Pki, at: datetime) -> Entry:
    """The first PKI entry with the Table 5.5 MVF role that is valid at `at` and not a negative."""
    for e in pki.entries:
        if e.role == MVF_ROLE and e.negative is None and e.not_before <= at <= e.not_after:
            return e
    raise InputError(f"the PKI in {pki.dir} has no certificate with role {MVF_ROLE} (Table 5.5, Migration "
                     f"Common Validation File) valid at {at.isoformat()}; the MVF cannot be signed")


def _sub(parent, local: str, text: str | None = None):
    el = etree.SubElement(parent, _M + local)
    if text is not None:
        el.text = text
    return el


def _certificate(parent, local: str, cid: dict) -> None:
    iss = _sub(_sub(parent, local), "X509IssuerSerial")
    etree.SubElement(iss, _DS + "X509IssuerName").text = str(cid["issuer"])
    etree.SubElement(iss, _DS + "X509SerialNumber").text = str(cid["serial"])


def supporting_data(parent, evidence: dict) -> None:
    """SupportingData as Table 5.10 prescribes: DeviceID, CertificateID or CertificatePair."""
    sd = _sub(parent, "SupportingData")
    if "device_id" in evidence:
        _sub(sd, "DeviceID", str(evidence["device_id"]))
    elif "certificate" in evidence:
        _certificate(sd, "CertificateID", evidence["certificate"])
    elif "certificate_pair" in evidence:
        pair = _sub(sd, "CertificatePair")
        for cid in evidence["certificate_pair"]:
            _certificate(pair, "CertificateID", cid)
    else:
        raise ValueError(f"unknown SupportingData {evidence!r}")


def document(header: dict, reporting_party: str, mvf_counter: int,
             results: Iterable[InstallationResult]) -> etree._Element:
    """The unsigned MigrationValidation element."""
    root = etree.Element(schema.ROOT_ELEMENTS["MVF"].text, nsmap={None: NAMESPACE, "ds": DS_NAMESPACE})
    _sub(root, "RequestingPartyID", str(header["RequestingPartyID"]))
    _sub(root, "MCFCounter", str(header["MCFCounter"]))
    _sub(root, "ReportingPartyID", reporting_party)
    _sub(root, "MVFCounter", str(mvf_counter))
    if header.get("GroupID"):
        _sub(root, "GroupID", str(header["GroupID"]))
    for r in results:
        inst = _sub(root, "SMETS1Installation")
        _sub(inst, "CHFIdentifier", r.chf)
        for fc in r.failed_checks:
            el = _sub(inst, "FailedCheck")
            _sub(el, "FailedStepNumber", fc.step)
            if fc.supporting_data:
                supporting_data(el, fc.supporting_data)
    return root


def emit(header: dict, results: Iterable[InstallationResult], pki: Pki, at: datetime,
         mvf_counter: int) -> EmittedMVF:
    """Build, validate, sign and name the MVF for an MCF's header and its Table 5.10 results."""
    entry = signer_for(pki, at)
    root = document(header, entry.entity_id, mvf_counter, results)
    errors = schema.validate(root, file_type="MVF", unsigned=True)
    if errors:  # never expected: every value comes from a schema-valid MCF or the PKI
        raise InputError(f"the MVF built is not valid against the SMETS1 Migration Schema: {errors[0]}")
    mvf_header = {"RequestingPartyID": str(header["RequestingPartyID"]), "MCFCounter": int(header["MCFCounter"]),
                  "ReportingPartyID": entry.entity_id, "MVFCounter": int(mvf_counter)}
    name, rule_id = table_10_2_name({"file_type": "MVF", "root_element": schema.ROOT_ELEMENTS["MVF"].localname,
                                     "header": mvf_header})
    key, cert = entry.signer()
    content = signature.sign(root, key, cert)
    return EmittedMVF(name, content, entry.name, rule_id, mvf_header)
