"""JSON Schemas shipped with the engine (installed as ``rules_engine.schemas``)."""
