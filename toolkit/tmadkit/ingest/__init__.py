"""Ingesters: source texts (TMAD, SEC Appendix AC) -> clause catalogues."""
