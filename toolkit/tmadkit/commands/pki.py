"""`tmadkit pki init DIR`: make a throw-away SMKI-like test PKI (see tmadkit.smki.pki)."""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from ..errors import InputError
from ..smki import pki, roles

HELP = "create a test SMKI PKI (CAs, Organisation Certificates, keys, negatives)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)
    p = sub.add_parser("init", help="create the PKI in DIR and write DIR/pki.yaml")
    p.add_argument("dir", metavar="DIR", help="where certificates and pki.yaml go")
    p.add_argument("--now", metavar="ISO",
                   help="reference time for validity periods (ISO 8601; no offset means UTC; "
                        "default: the current time)")
    p.add_argument("--key-dir", metavar="KEYDIR",
                   help="where private keys go (default DIR/keys; created 0700, keys 0600)")
    p.add_argument("--force", action="store_true", help="replace an existing PKI in DIR")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(timezone.utc)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now {text!r} is not an ISO 8601 date-time") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def run(args: argparse.Namespace) -> int:
    made = pki.init(args.dir, now=_parse_now(args.now), key_dir=args.key_dir, force=args.force)
    # Paths and identifiers only: key material is never printed.
    rows = [{"name": e.name, "role": e.role, "role_code": e.role_code, "key_usage": e.usage,
             "entity_id": e.entity_id, "issuer": e.cert_id.issuer_string, "serial": str(e.cert_id.serial),
             "negative": e.negative} for e in made.entries]
    if args.json:
        print(json.dumps({"dir": str(made.dir), "manifest": str(made.dir / pki.MANIFEST),
                          "certificates": rows}, indent=2))
        return 0
    print(f"test PKI in {made.dir} ({len(rows)} Organisation Certificates; manifest {pki.MANIFEST})")
    for r in rows:
        flag = f"  [negative: {r['negative']}]" if r["negative"] else ""
        print(f"  {r['name']:<45} {r['role']}({r['role_code']:02X}) {r['key_usage']:<16} "
              f"{r['entity_id']}{flag}")
    assumed = sorted({e.role for e in made.entries} & roles.role_table().assumed)
    if assumed:
        print("NOTE: the role codes of " + ", ".join(assumed)
              + " are tmadkit assumptions, not published codes (see smki/role_codes.yaml).")
    return 0
