"""Fault drills: Gallery in production shape on private servers that the drills break.

Run only in the MariaDB pass (see ``collect_ignore`` in tests/conftest.py);
the fixtures are in tests/faults/conftest.py.
"""
