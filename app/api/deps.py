"""Dependencies shared by routes, as `Annotated` aliases."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.compliance.service import Compliance
from app.config import Settings, get_settings
from app.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An integrator key from SMSDESK_API_KEYS.")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _compliance(request: Request) -> Compliance:
    return _runtime(request).compliance


def _app_settings(request: Request) -> Settings:
    return _runtime(request).settings


def _api_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: Annotated[Settings, Depends(_app_settings)],
) -> None:
    """Require `Authorization: Bearer <key>` with one of the configured keys."""
    given = credentials.credentials.encode() if credentials else b""
    if not given or not any(
        hmac.compare_digest(given, key.get_secret_value().encode()) for key in settings.api_keys
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
AppSettingsDep = Annotated[Settings, Depends(_app_settings)]
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
ComplianceDep = Annotated[Compliance, Depends(_compliance)]
ApiKey = Depends(_api_key)
