"""`smsdesk signups list` on a real database, after a signup through the API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from tests.signups.conftest import PHONE, signup_payload


def test_signups_list_shows_status_and_source(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = client.post("/api/v1/signups", json=signup_payload()).json()
    monkeypatch.setenv("SMSDESK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["signups", "list", "--phone", PHONE, "--json"])
        assert result.exit_code == 0, result.output
        (row,) = [json.loads(line) for line in result.output.splitlines()]
        assert (row["id"], row["status"], row["request_sent"]) == (created["id"], "pending", True)
        assert row["source"] == "https://acme.com/join checkbox:sms-consent"
        table = runner.invoke(app, ["signups", "list"])
        assert table.exit_code == 0 and "pending" in table.output
        bad = runner.invoke(app, ["signups", "list", "--phone", "not a number"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()
