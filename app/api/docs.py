"""The interactive API docs served from the package, and the site's icon.

FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a CDN: offline (or behind a
strict egress firewall) the pages were blank. The `fastapi-offline` package ships those files;
with it installed they are served from /docs-assets. Without it FastAPI's CDN pages stay.
"""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.console.templating import STATIC_DIR

ASSETS_URL = "/docs-assets"
FAVICON = STATIC_DIR / "favicon.svg"


def offline_assets() -> Path | None:
    """The folder of Swagger UI and ReDoc files shipped by `fastapi-offline`, if installed."""
    if importlib.util.find_spec("fastapi_offline") is None:
        return None
    folder = Path(str(files("fastapi_offline") / "static"))
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install_docs(app: FastAPI, *, public: bool) -> None:
    """/favicon.ico always; /docs and /redoc from local files when `public` and the files
    are there (the app is then built with FastAPI's CDN pages turned off: `docs_urls`)."""

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml")

    assets = offline_assets()
    if not public or assets is None or app.openapi_url is None:
        return
    openapi_url, title = app.openapi_url, app.title
    app.mount(ASSETS_URL, StaticFiles(directory=assets), name="docs_assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )


def docs_urls(public: bool) -> tuple[str | None, str | None]:
    """FastAPI's own (CDN) /docs and /redoc: only when public and no local files replace them."""
    if not public or offline_assets() is not None:
        return None, None
    return "/docs", "/redoc"
