"""The reference-data "world" the Table 5.10 Common Validation Checks consult.

A world is a directory of YAML, JSON or CSV files, one per table (format: schema.json,
spec/world/README.md): the Central Products List, the SMETS1 Eligible Product
Combinations, the Group Device Model Combination List, the Smart Metering Inventory,
Registration Data, parties with their Entity Identifiers and Party Signifiers, Organisation
Certificates and Communications Hub WAN contacts.  load.py validates every record and
loads it into one SQLite file (world tables plus the tmadkit.smki.registry tables);
store.World answers the questions the checks ask; check.py finds records that
contradict one another.

    from tmadkit.world import example_dir, load_world
    with load_world(example_dir()) as world:
        world.import_supplier("1900000000011", world.reference_time)
"""
from pathlib import Path

from .. import paths
from .check import Finding, check_dir, check_world
from .load import LoadReport, load_database, load_world
from .store import CplEntry, DeviceModel, EpcEntry, Party, World

__all__ = ["CplEntry", "DeviceModel", "EpcEntry", "Finding", "LoadReport", "Party", "World", "check_dir",
           "check_world", "example_dir", "load_database", "load_world"]


def example_dir() -> Path:
    """spec/world/example: the world the Table 5.10 scenarios use (in a checkout or a wheel)."""
    return paths.spec_dir() / "world" / "example"
