"""tests/python/helpers: importable modules for the pytest suite (code that runs inside other interpreters)."""
