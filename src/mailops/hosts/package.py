"""Call the host package (``mailops_host``) on an inventory host and read its answer.

Every command of the package prints one JSON object, ``{"result": …}`` or
``{"error": …}`` (mailops.onhost.__main__); this runs one through pyinfra's
connector for the host (mailops.hosts.connect) and returns that object. When the
host answers nothing usable — the package is not installed, the user is missing —
the object is an error that says so and what to run. Every error names the host.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import connect

if TYPE_CHECKING:
    from ..inventory import InventoryHost


def call(host: InventoryHost, *args: str, user: str | None = None,
         timeout: float = connect.DEFAULT_TIMEOUT) -> dict[str, Any]:
    """``python3 -S -m mailops_host ARGS`` on ``host`` (as ``user`` through runuser(1))."""
    from ..services.onhost import module_argv

    argv = module_argv(*args)
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    try:
        result = connect.run(host, argv, timeout=timeout, check=False)
    except connect.HostError as e:
        return {"error": str(e)}  # names the host already
    lines = result.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1]) if lines else None
    except ValueError:
        out = None
    if isinstance(out, dict) and "result" in out:
        return out
    if isinstance(out, dict) and "error" in out:
        return {**out, "error": f"host {host.name}: {out['error']}"}
    why = result.stderr.strip()[-800:] or "no output"
    if any(s in why for s in ("No module named", "does not exist", "No such file")):
        why += (" — the host package or its user is missing: run the deploy "
                "(`pyinfra <inventory> deploy.py`) first")
    return {"error": f"host {host.name}: the host package answered nothing usable ({why})"}
