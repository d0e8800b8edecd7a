"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

SQLITE_LOWER = "unicode_lower"
"""Python's str.lower as an SQLite function (registered on every connection by the engine):
SQLite's own lower() changes only ASCII letters, so `Óscar` would never match `óscar`."""


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes everywhere; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class lower_text(FunctionElement[str]):
    """lower() of any letter, as PostgreSQL's lower() does, on SQLite too (`SQLITE_LOWER`)."""

    type = String()
    inherit_cache = True
    name = "lower_text"


@compiles(lower_text)
def _lower_text(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lower_text, "sqlite")
def _lower_text_sqlite(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"
