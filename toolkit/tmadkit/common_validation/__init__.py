"""The DCC's processing of an authenticated Migration Common File (TMAD Clause 5.10).

run.py        Table 5.10 for every installation, as the `common-validation` procedure orders it
extract.py    an MCF's SMETS1Installation element -> the facts the checks read
speculative   Table 5.10 in a worker (thread, or process for a large file) beside Table 5.9
cached_world  the World, memoised and batch-fetched for a run over many installations
mvf.py        the signed, named Migration Common Validation File (5.10(b)-(d))
distribution  who receives the MCF, under which name (5.10(a))
counter.py    the MVFCounter the DCC keeps per Requesting Party
"""
from .run import CommonValidation, FailedCheck, InstallationResult

__all__ = ["CommonValidation", "FailedCheck", "InstallationResult"]
