"""What is simulated: the scenario's schema, its cross-checks, loading, and paths to a value.

:mod:`carnet.scenario.schema` declares every parameter once (type, default, bounds, help), and
drives validation, the command line, the lab's knobs and the reference;
:mod:`carnet.scenario.loading` reads presets, files and mappings through a bounded YAML reader;
:mod:`carnet.scenario.reference` writes the reference from the schema.
"""
