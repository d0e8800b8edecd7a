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


API_KEY_REQUIRED = "a valid API key is required (Authorization: Bearer <key>)"


def known_api_key(settings: Settings, given: str) -> bool:
    """Whether `given` is one of the configured integrator keys (constant-time comparison)."""
    token = given.encode()
    return bool(token) and any(
        hmac.compare_digest(token, key.get_secret_value().encode()) for key in settings.api_keys
    )


def _api_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: Annotated[Settings, Depends(_app_settings)],
) -> None:
    """Require `Authorization: Bearer <key>` with one of the configured keys."""
    if not known_api_key(settings, credentials.credentials if credentials else ""):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=API_KEY_REQUIRED,
            headers={"WWW-Authenticate": "Bearer"},
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
AppSettingsDep = Annotated[Settings, Depends(_app_settings)]
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
ComplianceDep = Annotated[Compliance, Depends(_compliance)]
ApiKey = Depends(_api_key)
