"""Dependencies shared by routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.keys import ApiGrant, check_api_key
from app.compliance.service import Compliance
from app.config import Settings, get_settings
from app.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An integrator key from SMSDESK_API_KEYS.")


# These are `async` although they never wait: FastAPI runs a plain function dependency
# in its thread pool, a thread hop (and a turn at the GIL) on every request, webhooks included.
async def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _compliance(request: Request) -> Compliance:
    return (await _runtime(request)).compliance


async def _app_settings(request: Request) -> Settings:
    return (await _runtime(request)).settings


API_KEY_REQUIRED = "a valid API key is required (Authorization: Bearer <key>)"


def known_api_key(settings: Settings, given: str) -> bool:
    """Whether `given` is one of the configured integrator keys (for checks before the body)."""
    return check_api_key(settings, given) is not None


async def _api_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: Annotated[Settings, Depends(_app_settings)],
) -> ApiGrant:
    """Require `Authorization: Bearer <key>` with one of the configured keys (the key's
    check is `check_api_key`, shared with whatever authenticates before the body is read)."""
    grant = check_api_key(settings, credentials.credentials if credentials else "")
    if grant is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=API_KEY_REQUIRED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return grant


async def _key_for_this_brand(
    grant: Annotated[ApiGrant, Depends(_api_key)],
    settings: Annotated[Settings, Depends(_app_settings)],
) -> ApiGrant:
    """A key that reaches this instance's brand (`SMSDESK_BRAND_ID`), else 403."""
    if not grant.allows(settings.brand_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this API key does not reach brand {settings.brand_id}",
        )
    return grant


SettingsDep = Annotated[Settings, Depends(get_settings)]
AppSettingsDep = Annotated[Settings, Depends(_app_settings)]
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
ComplianceDep = Annotated[Compliance, Depends(_compliance)]
ApiKey = Depends(_api_key)
BrandApiKey = Depends(_key_for_this_brand)
"""A valid key that reaches this instance's brand: for routes that read or write its texts."""
ApiGrantDep = Annotated[ApiGrant, Depends(_api_key)]
