"""Where the bounce tests find the shared corpora of real bounces.

They live in the shared folder beside the clone (``../shared/corpora``; see
mailops.bounce.score.corpora_dir).  Without them a test says where it looked
and skips on a developer's machine, but fails in CI (CI=true), where the shared
folder is always present: a silent skip there would hide a broken setup.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailops.bounce import score


def folder(name: str) -> Path | None:
    """The corpus folder ``name`` or None, for parametrising at collection time
    (the test itself then calls :func:`require`, which explains a missing one)."""
    base = score.corpora_dir()
    path = base / name if base else None
    return path if path is not None and (path / "messages").is_dir() else None


def require(name: str) -> Path:
    """The corpus folder ``name``; skips (or fails in CI) with where it looked."""
    path = folder(name)
    if path is not None:
        return path
    base = score.corpora_dir()
    path = base / name if base else None
    where = str(path) if path else "$MAILOPS_CORPORA, or ../shared/corpora beside the clone"
    message = (f"the {name} corpus of real bounces is missing (looked in {where}); put the "
               "shared folder beside the clone or set MAILOPS_CORPORA")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
