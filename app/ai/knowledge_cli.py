"""`smsdesk kb ...`: index, search and import the knowledge base."""

from __future__ import annotations

import typer

kb_app = typer.Typer(help="The knowledge base: sync it into the index, search it, import FAQs.")
