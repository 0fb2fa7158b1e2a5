"""The results database: every invocation, envcheck and validate verdict in SQLite (embedded, the default) or
PostgreSQL (a fleet), one schema through SQLAlchemy Core with Alembic migrations. The JSON report stays the unit
of exchange; the database is the history (docs: README, "Results database")."""
