"""Test only: the real deploy.py, with one main.cf value Postfix rejects.

The inventory model refuses every bad value it knows of, so the lab test injects one
past it here: ``message_size_limit = 50M`` (an easy operator mistake: Postfix wants a
byte count; postconf(5)). Run from the repository root, like deploy.py.
"""

from pathlib import Path

import tasks.postfix

_render = tasks.postfix.postfix_context


def _with_a_bad_value(settings):
    ctx = _render(settings)
    ctx["message_size_limit"] = "50M"
    return ctx


tasks.postfix.postfix_context = _with_a_bad_value
exec(compile(Path("deploy.py").read_text(), "deploy.py", "exec"))
