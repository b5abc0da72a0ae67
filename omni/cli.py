"""The console entry point ``omni`` (``omni.cli:main``); the commands live in :mod:`omni.commands`."""

from __future__ import annotations

from omni.commands import build_parser, main

__all__ = ["build_parser", "main"]
