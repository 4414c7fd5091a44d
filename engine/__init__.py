"""rules: a policy-as-data rules engine.

The pipeline reads in one direction: load -> validate -> compile -> evaluate
-> allocate -> decide -> audit -> replay. ``engine.api`` has the functions the
CLI and other programs call.
"""
__version__ = "0.1.0"
