"""The SMI Status lifecycle (SEC Appendix AC) as data: model, engine, store, generated artefacts.

A rule file's `state_machine:` (rules/state-machine.schema.json) is read by `model`; each
transition and refusal becomes a `Rule` (so lint, traceability and the report treat it like any
other), its guard a predicate of the ordinary primitives over *step facts* (`facts`).  The
`engine` applies events to Devices kept in an SQLite `store`; `generate` writes the validator
module, the feature and the SVG diagram.
"""
