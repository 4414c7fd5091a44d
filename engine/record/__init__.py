"""Storage that knows nothing of rules: the decision log (SQLite, PostgreSQL)."""
