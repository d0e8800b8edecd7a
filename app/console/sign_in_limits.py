"""Sign-in rate limits: atomic counters in the database, keyed so a stranger locks nobody out.

Every password check is paid for first: the attempt is counted by one atomic upsert and
committed before the (slow) argon2 check, so 60 guesses in parallel get at most the limit
checked, on SQLite and PostgreSQL alike and across replicas. A correct password gives its
attempt back.

The keys, each with its own fixed window (`WINDOW`):
- one client guessing one agent's password (`PER_CLIENT_AND_ADDRESS`);
- one client spraying many addresses (`PER_CLIENT`, looser: an office shares one NAT address);
- one agent's address guessed at from many clients (`PER_ADDRESS`), which never applies to a
  client the agent has signed in from before: failures elsewhere cannot lock them out.

The audit log stays bounded: attempts past a limit are not checked and leave one
`login.rate_limited` row per key and window (the first refusal), plus one
`login.rate_limited_total` row with the count once the window is over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, case, exists, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.handoff.agents import audit
from app.storage.messages import now
from app.storage.tables import AuditEntry, SignInAttempts

WINDOW = timedelta(minutes=15)
PER_CLIENT_AND_ADDRESS = 5
PER_CLIENT = 20
PER_ADDRESS = 50
RATE_LIMITED = "login.rate_limited"
RATE_LIMITED_TOTAL = "login.rate_limited_total"

_TABLE: Table = SignInAttempts.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Count:
    key: str
    limit: int
    attempts: int
    window_start: datetime


@dataclass(frozen=True)
class Reservation:
    """The attempts this sign-in was counted under, and whether a limit refuses it."""

    counted: tuple[_Count, ...]
    retry_after: int | None
    """Seconds until the refusing limit's window ends, or None: the password may be checked."""


def _keys(email: str, ip: str | None, *, known_client: bool) -> list[tuple[str, int]]:
    client = ip or "-"
    keys = [(f"client+address:{client}:{email}", PER_CLIENT_AND_ADDRESS)]
    keys.append((f"client:{client}", PER_CLIENT))
    if not known_client:
        keys.append((f"address:{email}", PER_ADDRESS))
    return keys


def _known_client(session: Session, *, email: str, ip: str | None) -> bool:
    if ip is None:
        return False
    signed_in = select(AuditEntry.id).where(
        AuditEntry.action == "login", AuditEntry.target == email, AuditEntry.ip == ip
    )
    return bool(session.exec(select(exists(signed_in))).one())


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(_TABLE)


def _count(session: Session, key: str, limit: int, at: datetime, ip: str | None) -> _Count:
    attempts = _TABLE.c.attempts
    # A window that is over starts again; what it refused is carried out in the same
    # statement (the SET reads the old row), so exactly one request writes its total.
    rolled = session.execute(
        update(_TABLE)
        .where(_TABLE.c.key == key, _TABLE.c.window_start <= at - WINDOW)
        .values(
            refused_before=case((attempts > limit, attempts - limit), else_=0),
            attempts=0,
            window_start=at,
        )
        .returning(_TABLE.c.refused_before)
    ).scalar_one_or_none()
    if rolled:
        audit(session, action=RATE_LIMITED_TOTAL, target=key[:254], detail={"refused": rolled})
    statement = _insert(session).values(key=key, window_start=at, attempts=1, refused_before=0)
    row = session.execute(
        statement.on_conflict_do_update(
            index_elements=[_TABLE.c.key], set_={"attempts": attempts + 1}
        ).returning(attempts, _TABLE.c.window_start)
    ).one()
    counted = _Count(key, limit, int(row[0]), row[1])
    if counted.attempts == limit + 1:  # the first refusal of this window, the rest only counted
        audit(session, action=RATE_LIMITED, target=key[:254], ip=ip, detail={"limit": limit})
    return counted


def reserve(
    session: Session, *, email: str, ip: str | None, at: datetime | None = None
) -> Reservation:
    """Count one sign-in attempt under each key and commit; `retry_after` is set when a
    limit is already used up (then the password must not be checked)."""
    at = at or now()
    known = _known_client(session, email=email, ip=ip)
    counted = tuple(
        _count(session, key, limit, at, ip) for key, limit in _keys(email, ip, known_client=known)
    )
    session.commit()  # visible to (and unlocked for) parallel attempts before argon2 runs
    waits = [
        (c.window_start + WINDOW - at).total_seconds() for c in counted if c.attempts > c.limit
    ]
    retry_after = max(1, math.ceil(max(waits))) if waits else None
    return Reservation(counted, retry_after)


def release(session: Session, reservation: Reservation) -> None:
    """Give back a correct password's attempt (in the caller's transaction)."""
    for counted in reservation.counted:
        session.execute(
            update(_TABLE)
            .where(
                _TABLE.c.key == counted.key,
                _TABLE.c.window_start == counted.window_start,
                _TABLE.c.attempts > 0,
            )
            .values(attempts=_TABLE.c.attempts - 1)
        )


def counts(session: Session) -> dict[str, int]:
    """Attempts per key in the current windows (for operators and tests)."""
    rows = session.exec(select(SignInAttempts).order_by(col(SignInAttempts.key))).all()
    return {row.key: row.attempts for row in rows}
