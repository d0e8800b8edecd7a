"""What a newcomer's browser and `--help` meet: the API docs offline, the icon, `db --help`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings
from app.main import create_app


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_site_has_an_icon(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_need_no_network(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert urls, html.text
    for url in urls:  # every script, style and icon from this server, none from a CDN
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    assert "https://" not in html.text


def test_production_has_no_docs(settings: Settings) -> None:
    prod = settings.model_copy(update={"env": "prod", "simulator": False})
    with TestClient(create_app(prod)) as client:
        for page in ("/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui.css"):
            assert client.get(page).status_code == 404, page


def test_db_help_promises_only_what_it_has() -> None:
    result = CliRunner().invoke(cli, ["db", "--help"])
    assert result.exit_code == 0
    assert "inspect" not in result.output
    commands = re.findall(r"│ (\w+)\s{2,}", result.output.split("Commands")[1])
    assert commands == ["upgrade"]
