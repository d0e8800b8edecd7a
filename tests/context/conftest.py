"""The console's fixtures (the real app, agents) for the profile panel's tests."""

from tests.console.conftest import client, make_agent  # noqa: F401 (fixtures, used by name)
