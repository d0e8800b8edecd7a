"""Health: is the process up and can it reach its database?"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.api.deps import RuntimeDep
from app.compliance.lexicon import ruleset_version

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Service health."""

    status: str
    database: str
    workers: str
    """`ready`, or `starting` while the job workers start (texts are stored meanwhile)."""
    version: str
    ruleset_version: str


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def health(runtime: RuntimeDep) -> JSONResponse:
    """Liveness and database reachability (503 when the database cannot be reached)."""
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database, code = "ok", 200
    except SQLAlchemyError:
        database, code = "unavailable", 503
    body = Health(
        status="ok" if code == 200 else "degraded",
        database=database,
        workers="ready" if runtime.jobs.is_ready() else "starting",
        version=__version__,
        ruleset_version=ruleset_version(),
    )
    return JSONResponse(body.model_dump(), status_code=code)
