"""Pure Python domain: no framework, no I/O."""
