"""The generated features, run by pytest-bdd against the in-process reference implementation."""
from pytest_bdd import scenarios

from tmadkit import paths

scenarios(str(paths.features_dir()))
