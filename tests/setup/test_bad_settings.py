"""A newcomer's bad setting, as they meet it: one `error:` line naming the variable, exit 2.

Run as `python -m app.cli` in a subprocess (what `make run` and the `smsdesk` script run), so
nothing in the test process (pytest's own exception handling) hides a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def smsdesk(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command line with a clean SMSDESK_* environment plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSDESK_")}
    clean |= {"SMSDESK_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=clean,
        cwd=tmp_path,  # no .env of the developer's checkout
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SMSDESK_WORKERS": "abc"}, "SMSDESK_WORKERS='abc': input should be a valid integer"),
        ({"SMSDESK_EXECUTION_MODE": "procrastinate"}, "needs a PostgreSQL database"),
        ({"SMSDESK_PORT": "99999"}, "SMSDESK_PORT='99999'"),
        ({"SMSDESK_LOG_LEVEL": "chatty"}, "SMSDESK_LOG_LEVEL"),
        ({"SMSDESK_BUSINESS_TIMEZONE": "Mars/Base"}, "SMSDESK_BUSINESS_TIMEZONE: unknown"),
        ({"SMSDESK_GOVERNOR_HOLIDAYS": "tomorrow"}, "SMSDESK_GOVERNOR_HOLIDAYS"),
        ({"SMSDESK_SMS_PROVIDER": "twilio"}, "needs SMSDESK_TWILIO_ACCOUNT_SID"),
        (
            {"SMSDESK_PHONE_REGION": "XX"},
            "SMSDESK_PHONE_REGION='XX': phone_region 'XX' is not a region code",
        ),
    ],
)
def test_serve_says_what_is_wrong_in_one_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = smsdesk(tmp_path, "serve", **env)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and named in line, line
    variable = next(iter(env))
    assert variable in line or "SMSDESK_DATABASE_URL" in line


@pytest.mark.parametrize(
    "command",
    [
        ["agents", "list"],
        ["db", "upgrade"],
        ["kb", "search", "what time do you open"],
        ["chat", "--from", "+12125550123"],
        ["compliance", "classify", "STOP", "--from", "+12125550123"],
    ],
)
def test_every_command_says_it_in_one_line(tmp_path: Path, command: list[str]) -> None:
    result = smsdesk(tmp_path, *command, SMSDESK_WORKERS="abc")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: SMSDESK_WORKERS='abc': input should be a valid integer, unable to parse string "
        "as an integer"
    ]


def test_a_secret_is_never_echoed(tmp_path: Path) -> None:
    result = smsdesk(
        tmp_path, "agents", "list", SMSDESK_ENV="prod", SMSDESK_SIMULATOR="true",
        SMSDESK_TWILIO_AUTH_TOKEN="s3cret-token-value",
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "SMSDESK_SIMULATOR" in line and "s3cret" not in line


def test_chat_without_a_server_says_where_it_looked(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "chat", "--from", "+12125550123", "--wait", "0"],
        env={k: v for k, v in os.environ.items() if not k.startswith("SMSDESK_")}
        | {"SMSDESK_PORT": str(port), "SMSDESK_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        input="hello\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot reach smsdesk at http://127.0.0.1:{port} "), line
