"""Fixtures of the stackops tests."""

from tests.stackops.chargeback_tables import runs_table, sandbox_tables  # noqa: F401 (fixtures)
