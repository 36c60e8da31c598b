"""Facts about the operator's machine that the inventory names but cannot vouch for.

A certificate file named by ``tls.cert_file`` must exist where the deploy runs,
not wherever ``mailops dns zone`` runs; so these are checked by the commands
that use them, with this one message wherever that is.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SettingsError, problem


def local_file(value: str, key: str, what: str = "a readable PEM file") -> Path:
    """The file an inventory key names on this machine, or a SettingsError naming the key."""
    path = Path(value).expanduser()
    if not value or not path.is_file():
        raise SettingsError([problem(f"mailops.{key}", repr(value) if value else "nothing",
                                     f"the path of {what} on the machine that deploys",
                                     "put the file there or fix the path")],
                            "this machine")
    return path.resolve()
