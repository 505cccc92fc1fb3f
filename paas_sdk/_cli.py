"""What the three command lines (paas-exporter, paas-dash, paas-logs) share: -h and NO_COLOR."""

from __future__ import annotations

import os

import click

__all__ = ["CONTEXT_SETTINGS", "honour_no_color"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def honour_no_color() -> None:
    """With ``NO_COLOR`` set and not empty (https://no-color.org), print no ANSI colours."""
    if os.environ.get("NO_COLOR"):
        click.get_current_context().color = False  # subcommands' contexts inherit it
