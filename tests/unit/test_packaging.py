"""The package metadata: an SPDX licence string (PEP 639) with a setuptools that reads it, so an install prints
no deprecation banner, and the console entry point that exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_license_is_an_spdx_string_and_setuptools_supports_it():
    meta = tomllib.loads(PYPROJECT.read_text())
    assert meta["project"]["license"] == "MIT"
    requires = meta["build-system"]["requires"]
    setuptools = next(r for r in requires if r.startswith("setuptools"))
    minimum = re.search(r">=\s*(\d+)", setuptools)
    assert minimum is not None and int(minimum.group(1)) >= 77  # PEP 639 license expressions


def test_console_entry_point_resolves():
    meta = tomllib.loads(PYPROJECT.read_text())
    module, _, name = meta["project"]["scripts"]["omni"].partition(":")
    import importlib

    assert callable(getattr(importlib.import_module(module), name))
