"""Benchmarks: measurements printed for people, never tests (nothing fails on a slow machine).

common_validation   the DCC's MCF processing against lxml/libxml2 and xmlsec1 on the same file
"""
