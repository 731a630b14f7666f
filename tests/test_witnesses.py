"""Every witness gets the verdict it expects from the generated check of its rule."""
from __future__ import annotations

import pytest

from tmadkit import registry
from tmadkit.authentication.witness import evaluate
from tmadkit.rules import load_all

from tmadkit.mutation import witness_cases

CASES = [(r, w, v, e) for r in load_all() if r.testable for w, v, e in witness_cases(r)]


def test_every_testable_rule_has_a_passing_and_a_failing_witness():
    for rule in load_all():
        if rule.testable:
            expects = set().union(*(w.verdicts for w in rule.witnesses))
            assert {"pass", "fail"} <= expects, rule.id


@pytest.mark.parametrize("rule, witness, version, expect", CASES,
                         ids=[f"{r.id}/{w.id}" + (f"@{v}" if v else "") for r, w, v, e in CASES])
def test_witness_verdict(rule, witness, version, expect):
    verdict = evaluate(registry.check(rule.id), witness.facts, version)
    assert verdict.status == expect, verdict.detail
    if verdict.status == "fail":
        assert verdict.outcome.action == rule.outcome["action"]
        assert verdict.outcome.text == rule.outcome["text"]
    assert set(verdict.clauses) == set(rule.clause_ids)


def test_the_other_key_witness_rewrites_keyinfo_and_nothing_it_signed():
    """KeyInfo names another certificate the Authenticator holds; the signed content is intact,
    so the Reference digest still matches and only SignatureValue, under that other key, fails."""
    import json

    from lxml import etree

    from tmadkit.authentication.witness import _built, witness_pki
    from tmadkit.xml import safe, signature

    spec = json.dumps({"type": "MCF"}, sort_keys=True)
    _, signed = _built(spec, None, None)
    _, tampered = _built(spec, "keyinfo-other-certificate", None)
    ds = "{http://www.w3.org/2000/09/xmldsig#}"
    a, b = safe.parse_bytes(signed).getroot(), safe.parse_bytes(tampered).getroot()
    key_infos = [etree.tostring(el.find(f"{ds}Signature/{ds}KeyInfo")) for el in (a, b)]
    assert key_infos[0] != key_infos[1]
    digests = [el.findtext(f"{ds}Signature/{ds}SignedInfo/{ds}Reference/{ds}DigestValue") for el in (a, b)]
    assert digests[0] == digests[1]                         # the same signed content ...
    for el in (a, b):
        el.remove(el.find(f"{ds}Signature"))
    assert etree.tostring(a) == etree.tostring(b)          # ... body included (ECDSA values differ per signing)

    other = witness_pki().entry("s1sp-migration-signing")
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(other.certificate.read_bytes())
    with pytest.raises(signature.VerificationFailed) as err:
        signature.verify(tampered, certificate)
    assert err.value.reason == "signature-value"
