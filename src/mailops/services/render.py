"""Render templates/<service>/*.j2 exactly as the deploy's files.template does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Jinja2 options used by BOTH the deploy (its tasks render every file through render())
# and the tests, so what is validated is byte-for-byte what is uploaded.
JINJA_ENV_KWARGS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True}

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATES_DIR = REPO_ROOT / "templates"


def template_path(name: str) -> Path:
    """templates/<service>/<file>.j2 by its repo-relative name, e.g. 'postfix/main.cf.j2'."""
    return TEMPLATES_DIR / name


def render(name: str, **context: Any) -> str:
    """Render templates/<name> (e.g. 'postfix/main.cf.j2') of this checkout."""
    return render_file(template_path(name), **context)


def render_file(path: str | Path, **context: Any) -> str:
    """Render a template exactly as pyinfra's files.template does (pyinfra.api.util).

    Same Environment options (StrictUndefined, keep_trailing_newline) plus
    JINJA_ENV_KWARGS, so tests validate what the deploy uploads; also used by the
    tasks for files that must not be diffed (the Dovecot passwd-file).
    """
    from jinja2 import Environment, StrictUndefined

    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True,
                      **JINJA_ENV_KWARGS)
    return env.from_string(Path(path).read_text()).render(**context)
