"""Health: can texts be taken (the database), are they being processed (workers), and how the
AI layer stands. Each part is reported as it is; only a database that cannot be reached makes
the answer 503, since then texts cannot be taken (the provider must retry)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.api.deps import RuntimeDep
from app.compliance.lexicon import ruleset_version
from app.jobs.heartbeat import live_workers
from app.runtime import Runtime
from app.storage import reading

router = APIRouter(tags=["health"])
_AI_ORDER = ("failed", "loading", "ready", "off")
"""Several workers: the least ready one is reported (a text may land on it)."""


class Health(BaseModel):
    """Service health (see README, "Health")."""

    status: str
    """`ok` while texts can be taken, `degraded` (503) when the database is away; the parts
    below say whether they are processed now."""
    database: str
    """`ok` or `unavailable` (then the answer is 503: texts cannot be taken)."""
    workers: str
    """`ready` when a process that runs jobs wrote its heartbeat lately, else `not_ready`
    (starting, dead, or in procrastinate mode no `smsdesk worker` running): texts are stored
    meanwhile and processed once a worker runs."""
    worker_count: int
    """How many worker processes have a fresh heartbeat."""
    ai: str
    """`off` (SMSDESK_BOT=off), `loading` (texts for the AI wait; compliance does not),
    `ready`, `failed: <reason>` (texts for the AI go to people), or `unknown` (no worker)."""
    version: str
    ruleset_version: str


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def health(runtime: RuntimeDep) -> JSONResponse:
    """Each part's state; 503 only when the database cannot be reached."""
    try:
        with reading(runtime.engine).connect() as connection:  # never behind the writers
            connection.execute(text("SELECT 1"))
        database, code = "ok", 200
    except SQLAlchemyError:
        database, code = "unavailable", 503
    workers, count, ai = _workers(runtime) if code == 200 else ("not_ready", 0, "unknown")
    body = Health(
        status="ok" if code == 200 else "degraded",
        database=database,
        workers=workers,
        worker_count=count,
        ai=ai,
        version=__version__,
        ruleset_version=ruleset_version(),
    )
    return JSONResponse(body.model_dump(), status_code=code)


def _workers(runtime: Runtime) -> tuple[str, int, str]:
    mode = runtime.settings.execution_mode
    try:
        beats = live_workers(runtime.engine, mode=mode)
    except SQLAlchemyError:
        return "not_ready", 0, "unknown"
    # Embedded mode: the workers are this process's (or its child's); a row a killed child
    # left behind must not count while the replacement starts.
    local = runtime.jobs.is_ready() if mode == "inprocess" else True
    ready = "ready" if beats and local else "not_ready"
    if runtime.ai_status() == "off":
        return ready, len(beats), "off"
    states = [beat.ai for beat in beats]
    ai = min(states, key=_rank) if states else "unknown"
    return ready, len(beats), ai


def _rank(ai: str) -> int:
    state = ai.split(":")[0]
    return _AI_ORDER.index(state) if state in _AI_ORDER else 0
