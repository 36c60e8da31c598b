"""Host state read in one pass: every managed file, directory and service of a deploy.

Each pyinfra fact is one remote command, one network round trip; a converged host
re-deployed with a fact per file, per directory and per service spends nearly all its
time waiting for those round trips, and more per hosted domain. Here the tasks
*register* what they manage while the deploy is planned (:func:`register`), and the
first operation that needs host state at run time reads ALL of it with one command
(:class:`HostState`: GNU stat, sha256sum and ``systemctl show``, each run once).

The result stays valid while no operation of this deploy has run a command on the
host (pyinfra marks such operations as executed); after one has, the next reader
fetches a fresh snapshot. So a no-op deploy costs one round trip for all of it, and
a deploy that changes something still decides on current state.
"""

from __future__ import annotations

import shlex
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api.facts import FactBase
from pyinfra.context import ctx_host


def unit_name(service: str) -> str:
    return service if "." in service else f"{service}.service"


class HostState(FactBase):
    """``{"files": {path: (kind, mode, user, group, sha256|None)}, "units": {unit:
    (ActiveState, UnitFileState)}}`` for the given paths (those that exist) and units."""

    def command(self, files: list[str], dirs: list[str], units: list[str]) -> str:
        every = " ".join(shlex.quote(p) for p in [*files, *dirs])
        parts = []
        if every:
            parts.append(f"stat -c '%F|%a|%U|%G|%n' -- {every} 2>/dev/null")
        parts.append("echo '|sha256|'")
        if files:
            parts.append(f"sha256sum -- {' '.join(shlex.quote(p) for p in files)} 2>/dev/null")
        parts.append("echo '|units|'")
        if units:
            parts.append("systemctl show --property=Id,ActiveState,UnitFileState -- "
                         f"{' '.join(shlex.quote(u) for u in units)} 2>/dev/null")
        return "; ".join([*parts, "true"])

    def process(self, output: list[str]) -> dict:
        files: dict[str, list] = {}
        units: dict[str, dict[str, str]] = {}
        section, unit = "stat", {}
        for line in output:
            if line in ("|sha256|", "|units|"):
                section = line.strip("|")
            elif section == "stat" and line.count("|") >= 4:
                kind, mode, user, group, path = line.split("|", 4)
                files[path] = [kind, int(mode, 8), user, group, None]
            elif section == "sha256":
                digest, _, path = line.partition("  ")
                if path in files:
                    files[path][4] = digest
            elif section == "units" and "=" in line:
                key, _, value = line.partition("=")
                if key == "Id":
                    unit = units.setdefault(value, {})
                unit[key] = value
        return {"files": {p: tuple(v) for p, v in files.items()},
                "units": {u: (v.get("ActiveState", ""), v.get("UnitFileState", ""))
                          for u, v in units.items()}}


@dataclass
class _Plan:
    files: dict[str, None] = field(default_factory=dict)  # ordered sets
    dirs: dict[str, None] = field(default_factory=dict)
    units: dict[str, None] = field(default_factory=dict)
    value: dict | None = None
    epoch: int = -1


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan() -> _Plan:
    this = ctx_host.get()  # the Host itself, not pyinfra's context proxy
    if this not in _PLANS:
        _PLANS[this] = _Plan()
    return _PLANS[this]


def register(files: Iterable[str] = (), dirs: Iterable[str] = (),
             units: Iterable[str] = ()) -> None:
    """Announce, while planning, paths and services an operation will ask about."""
    plan = _plan()
    plan.files.update(dict.fromkeys(files))
    plan.dirs.update(dict.fromkeys(dirs))
    plan.units.update(dict.fromkeys(unit_name(u) for u in units))


def _epoch() -> int:
    """How many operations have run commands on this host so far."""
    this = ctx_host.get()
    return sum(1 for data in this.state.ops.get(this, {}).values()
               if data.operation_meta.executed)


def current(files: Iterable[str] = (), dirs: Iterable[str] = (),
            units: Iterable[str] = ()) -> dict:
    """The host's state of (at least) these paths and units, fetched once for everything
    registered and again only after an operation has changed the host."""
    register(files, dirs, units)
    plan = _plan()
    epoch = _epoch()
    if plan.value is None or plan.epoch != epoch:
        plan.value = host.get_fact(HostState, files=list(plan.files), dirs=list(plan.dirs),
                                   units=list(plan.units))
        plan.epoch = epoch
    return plan.value
