"""Authenticating a received migration file: TMAD Table 5.9 run as rules.

received.py  the file as bytes, parsed once, hardened (tmadkit.xml.safe)
facts.py     the facts a rule sees, derived lazily so a step only pays for what it reads
context.py   the Authenticator's world: its role, certificate registry, Stored Counters, clock
procedure.py the order of the checks and the first failure, from rules/tmad/table-5.9.yaml
witness.py   turns a rule witness that describes a file into a real, signed file
"""
