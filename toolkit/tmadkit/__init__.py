"""tmadkit: the SMETS1 TMAD (SEC Appendix AL) and SEC Appendix AC as data, checks and evidence."""
__version__ = "0.1.0"
