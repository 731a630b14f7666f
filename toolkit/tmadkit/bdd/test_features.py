"""Binds every generated feature; `tmadkit conformance` runs this module with pytest."""
from pytest_bdd import scenarios

from tmadkit import paths

scenarios(str(paths.features_dir()))
