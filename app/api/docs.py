"""The interactive API docs served from the package, and the site's icon.

FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a CDN: offline (or behind a
strict egress firewall) the pages were blank. The `fastapi-offline` package (a dependency)
ships those files; they are served from /docs-assets, and FastAPI's CDN pages are off.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.console.templating import STATIC_DIR

ASSETS_URL = "/docs-assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
"""Swagger UI and ReDoc, as `fastapi-offline` ships them."""
FAVICON = STATIC_DIR / "favicon.svg"


def install_docs(app: FastAPI, *, public: bool) -> None:
    """/favicon.ico always; /docs and /redoc from the package's files when `public` (the app
    is built with FastAPI's CDN pages turned off)."""

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml")

    if not public or app.openapi_url is None:
        return
    openapi_url, title = app.openapi_url, app.title
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs_assets")

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
