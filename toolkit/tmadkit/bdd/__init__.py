"""pytest-bdd binding of the generated features to an implementation under test."""
