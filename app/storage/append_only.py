"""Database-level guards that make the audit tables append-only on SQLite and PostgreSQL.

Application code never updates these rows; the triggers make sure nothing else does either
(a stray UPDATE from a shell, a buggy migration), because the ledger is the seller's defence.
"""

from __future__ import annotations

from sqlalchemy import Connection

# psycopg treats % as a placeholder marker: %% reaches PL/pgSQL as its own % format marker.
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION smsdesk_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'smsdesk: %% is append-only (%% rejected)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END;
$$ LANGUAGE plpgsql
"""


def install(connection: Connection, tables: tuple[str, ...]) -> None:
    """Create the triggers that reject UPDATE, DELETE (and TRUNCATE) on `tables`."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.exec_driver_sql(_PG_FUNCTION)
    for table in tables:
        for statement in _statements(dialect, table):
            connection.exec_driver_sql(statement)


def uninstall(connection: Connection, tables: tuple[str, ...]) -> None:
    """Drop the triggers (only for a migration downgrade)."""
    dialect = connection.dialect.name
    for table in tables:
        for op in ("update", "delete", "truncate"):
            if dialect == "sqlite" and op == "truncate":
                continue
            suffix = f" ON {table}" if dialect == "postgresql" else ""
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}{suffix}")


def _statements(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'smsdesk: {table} is append-only ({op.upper()} "
            f"rejected)'); END"
            for op in ("update", "delete")
        ]
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_update ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION smsdesk_reject_change()",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION smsdesk_reject_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION smsdesk_reject_change()",
        ]
    raise NotImplementedError(f"append-only guards for {dialect}")
