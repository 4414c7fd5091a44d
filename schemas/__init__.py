"""JSON Schemas shipped with the engine (installed as ``engine.schemas``)."""
