"""`smsdesk agents add|list|update|disable|enable|password` as an admin uses it: output, errors,
exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from app.handoff.agents import authenticate
from app.storage import open_database
from app.storage.messages import now
from app.storage.tables import Conversation

runner = CliRunner()
PASSWORD = "a long enough password\n"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    get_settings.cache_clear()


def seed_brands(*brands: str) -> None:
    """Conversations of other brands in the database (one shared by several deployments)."""
    engine = open_database(get_settings().db_url)
    with Session(engine) as session:
        for brand in brands:
            session.add(Conversation(brand=brand, phone_e164="+12125550100", created_at=now()))
        session.commit()
    engine.dispose()


def agents(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["agents", *args], input=stdin)
    return result.exit_code, result.output


def test_add_list_disable() -> None:
    seed_brands("acme", "globex")
    code, out = agents(
        "add", "Ana@Example.com", "--role", "supervisor", "--name", "Ana", "--brand", "acme",
        "--brand", "globex", "--password-stdin", stdin=PASSWORD,
    )  # fmt: skip
    assert code == 0, out
    assert "added supervisor ana@example.com (brands: acme, globex)" in out
    assert agents("add", "bob@example.com", "--password-stdin", stdin=PASSWORD)[0] == 0

    code, out = agents("list")
    assert code == 0
    assert out.splitlines()[0].startswith("ana@example.com\tsupervisor\tactive\tacme, globex\tAna")
    # SMSDESK_BRAND_ID by default, shown with its display name (SMSDESK_BRAND_NAME)
    assert "bob@example.com\tagent\tactive\tdefault (Acme)\t" in out

    engine = open_database(get_settings().db_url)
    with Session(engine) as session:
        assert authenticate(session, email="ANA@example.com", password=PASSWORD.strip())
    code, out = agents("disable", "ANA@example.com")
    assert code == 0 and "disabled ana@example.com" in out
    assert "ana@example.com\tsupervisor\tdisabled" in agents("list")[1]
    with Session(engine) as session:
        assert authenticate(session, email="ana@example.com", password=PASSWORD.strip()) is None
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "x@example.com", "--password-stdin"], "short\n", "at least 12 characters"),
        (["add", "x@example.com"], PASSWORD, "--password-stdin"),
        (["add", "not-an-email", "--password-stdin"], PASSWORD, "not an email address"),
        (["disable", "nobody@example.com"], None, "no agent with email nobody@example.com"),
        (["enable", "nobody@example.com"], None, "no agent with email nobody@example.com"),
        (["update", "nobody@example.com", "--team", "x"], None, "no agent with email nobody@"),
        (["password", "nobody@example.com", "--password-stdin"], PASSWORD, "no agent with email"),
        (["password", "nobody@example.com"], PASSWORD, "--password-stdin"),
    ],
)
def test_clear_errors_exit_2(args: list[str], stdin: str | None, message: str) -> None:
    code, out = agents(*args, stdin=stdin)
    assert code == 2 and message in out


def test_duplicate_email_exits_2() -> None:
    assert agents("add", "ana@example.com", "--password-stdin", stdin=PASSWORD)[0] == 0
    code, out = agents("add", "ANA@example.com", "--password-stdin", stdin=PASSWORD)
    assert code == 2 and "already exists" in out


def test_bad_role_is_refused() -> None:
    code, _ = agents("add", "ana@example.com", "--role", "root", "--password-stdin", stdin=PASSWORD)
    assert code == 2


def test_enable_and_set_a_password() -> None:
    assert agents("add", "ana@example.com", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert agents("disable", "ana@example.com")[0] == 0
    code, out = agents("enable", "ANA@example.com")
    assert code == 0 and "enabled ana@example.com" in out
    assert "ana@example.com\tagent\tactive" in agents("list")[1]

    code, out = agents("password", "ana@example.com", "--password-stdin", stdin="too short\n")
    assert code == 2 and "at least 12 characters" in out
    new = "another long password"
    code, out = agents("password", "ana@example.com", "--password-stdin", stdin=new + "\n")
    assert code == 0 and "set a new password for ana@example.com" in out
    engine = open_database(get_settings().db_url)
    with Session(engine) as session:
        assert authenticate(session, email="ana@example.com", password=PASSWORD.strip()) is None
        assert authenticate(session, email="ana@example.com", password=new) is not None
    engine.dispose()


def test_update_changes_only_what_is_given() -> None:
    seed_brands("acme", "globex")
    add = ("add", "ana@example.com", "--brand", "acme", "--team", "billing", "--password-stdin")
    assert agents(*add, stdin=PASSWORD)[0] == 0
    code, out = agents("update", "ANA@example.com", "--role", "supervisor")
    assert code == 0 and "updated ana@example.com: supervisor, brands acme, team billing" in out
    code, out = agents("update", "ana@example.com", "--brand", "globex", "--brand", "acme")
    assert code == 0 and "brands globex, acme, team billing" in out
    code, out = agents("update", "ana@example.com", "--team", "", "--name", "Ana B")
    assert code == 0 and "team -" in out
    assert "ana@example.com\tsupervisor\tactive\tglobex, acme\tAna B" in agents("list")[1]
    code, out = agents("update", "ana@example.com", "--team", "x" * 65)
    assert code == 2 and "unknown team" in out
