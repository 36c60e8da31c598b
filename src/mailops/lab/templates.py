"""The lab's own templates (templates/lab/): machine configuration and the Vagrantfile."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Template

TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "lab"


def render(name: str, **context) -> str:
    """templates/lab/`name` rendered with `context`."""
    return Template((TEMPLATES / name).read_text()).render(**context)
