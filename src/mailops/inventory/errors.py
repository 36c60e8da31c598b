"""Inventory errors, worded the same whichever command loads the inventory.

A problem line reads ``<key>: found <what>; expected <what> — <what to do>``,
where ``<key>`` is the path in the inventory (``mailops.domains.example.com.
mailboxes.alice.password_hash``). :func:`problems_from` turns pydantic's
validation errors into such lines; a value whose type is secret (password
hashes, credential variable names) is never shown.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from .types import SECRET


class SettingsError(ValueError):
    """One or more inventory values are wrong. ``problems`` holds one line each."""

    def __init__(self, problems: list[str], source: str = "inventory"):
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{source}: {len(problems)} problem(s) found; nothing was changed on any host "
            f"or in DNS.\n{lines}\nFix the inventory and run the command again."
        )


def problem(path: str, found: str, expected: str, todo: str = "") -> str:
    """One problem line (the one format of every inventory error)."""
    return f"{path}: found {found}; expected {expected}" + (f" — {todo}" if todo else "")


def describe(value: Any) -> str:
    """A found value as shown in a message (short; never used for secrets)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return f"{type(value).__name__} {value!r}"[:80]


# What a missing required key should have held.
_MISSING = {
    "hostname": "the mail host's FQDN, e.g. 'mx1.example.com'",
    "domains": "at least one hosted domain",
    "password_hash": "a hash such as '{ARGON2ID}$argon2id$...' or '$6$...'",
}
# Wording for pydantic's own error types (structure, choices).
_EXPECTED = {
    "model_type": "a mapping (dict)",
    "model_attributes_type": "a mapping (dict)",
    "dict_type": "a mapping (dict)",
    "tuple_type": "a list",
    "list_type": "a list",
    "path_type": "a path",
}


def problems_from(error: ValidationError, root: type[BaseModel], prefix: str) -> list[str]:
    """One problem line per pydantic error, keyed by its path in the inventory."""
    out = []
    for e in error.errors(include_url=False):
        loc = [part for part in e["loc"] if part != "[key]"]
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        kind, ctx = e["type"], e.get("ctx") or {}
        if kind == SECRET:
            found = f"{ctx.get('found') or 'a value that is not valid'} (not shown)"
        else:
            found = " ".join(filter(None, [ctx.get("found"), describe(e["input"])]))
        if kind in ("mailops", SECRET):
            line = problem(path, found, ctx["expected"], ctx.get("todo", ""))
        elif kind == "extra_forbidden":
            allowed = _keys_at(root, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            line = problem(path, "an unknown key", f"one of {', '.join(allowed)}",
                           f"did you mean {close[0]!r}?" if close else "remove it")
        elif kind == "missing":
            line = problem(path, "nothing", _MISSING.get(str(loc[-1]), "a value"),
                           "make one with `mailops hash-password`"
                           if loc[-1] == "password_hash" else "")
        elif kind == "literal_error":
            line = problem(path, found, f"one of {ctx['expected'].replace(' or ', ', ')}")
        else:
            line = problem(path, found, _EXPECTED.get(kind, e["msg"][0].lower() + e["msg"][1:]))
        out.append(line)
    return out


def _keys_at(model: Any, loc: list) -> list[str]:
    """The keys the model allows at a path (for "did you mean" on an unknown key)."""
    kind = model
    for part in loc:
        kind = _unwrap(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = next((f for n, f in kind.model_fields.items()
                          if part in (n, f.alias)), None)
            kind = field.annotation if field else None
        elif typing.get_origin(kind) in (dict, tuple, list):
            kind = typing.get_args(kind)[-1 if typing.get_origin(kind) is dict else 0]
        else:
            return []
    kind = _unwrap(kind)
    if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return []
    return sorted(f.alias or n for n, f in kind.model_fields.items())


def _unwrap(kind: Any) -> Any:
    while True:
        origin = typing.get_origin(kind)
        if origin is typing.Annotated:
            kind = typing.get_args(kind)[0]
        elif origin in (typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        else:
            return kind
