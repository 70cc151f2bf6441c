"""The database: engines, the unit of work (commit, after-commit hooks), column types, migrations."""
