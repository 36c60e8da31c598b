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
    (ActiveState, UnitFileState)}, "outputs": {command: stdout}}`` for the given paths
    (those that exist), units and read-only shell commands."""

    def command(self, files: list[str], dirs: list[str], units: list[str],
                commands: list[str] = ()) -> str:
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
        for i, command in enumerate(commands):
            parts.append(f"echo '|output|{i}|'; ( {command} ) 2>/dev/null")
        return "; ".join([*parts, "true"])

    def process(self, output: list[str]) -> dict:
        files: dict[str, list] = {}
        units: dict[str, dict[str, str]] = {}
        outputs: dict[int, list[str]] = {}
        section, unit = "stat", {}
        for line in output:
            if line in ("|sha256|", "|units|"):
                section = line.strip("|")
            elif line.startswith("|output|") and line.endswith("|"):
                section = int(line.split("|")[2])
                outputs[section] = []
            elif isinstance(section, int):
                outputs[section].append(line)
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
                          for u, v in units.items()},
                "outputs": {i: "\n".join(lines) for i, lines in outputs.items()}}


@dataclass
class _Plan:
    files: dict[str, None] = field(default_factory=dict)  # ordered sets
    dirs: dict[str, None] = field(default_factory=dict)
    units: dict[str, None] = field(default_factory=dict)
    commands: dict[str, None] = field(default_factory=dict)
    value: dict | None = None
    epoch: int = -1
    fetched: tuple = ()  # what `value` covers: (files, dirs, units, commands)


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan() -> _Plan:
    this = ctx_host.get()  # the Host itself, not pyinfra's context proxy
    if this not in _PLANS:
        _PLANS[this] = _Plan()
    return _PLANS[this]


def register(files: Iterable[str] = (), dirs: Iterable[str] = (),
             units: Iterable[str] = (), commands: Iterable[str] = (),
             stat: Iterable[str] = ()) -> None:
    """Announce, while planning, what an operation will ask about: paths, services and
    read-only shell commands (their stdout; stderr is discarded). ``files`` are also
    hashed; ``dirs`` and ``stat`` (files the host itself writes, such as a database,
    whose content is not ours to compare) only stat(1)-ed."""
    plan = _plan()
    plan.files.update(dict.fromkeys(files))
    plan.dirs.update(dict.fromkeys([*dirs, *stat]))
    plan.units.update(dict.fromkeys(unit_name(u) for u in units))
    plan.commands.update(dict.fromkeys(commands))


def _epoch() -> int:
    """How many operations have run commands on this host so far."""
    this = ctx_host.get()
    return sum(1 for data in this.state.ops.get(this, {}).values()
               if data.operation_meta.executed)


def current(files: Iterable[str] = (), dirs: Iterable[str] = (),
            units: Iterable[str] = (), stat: Iterable[str] = ()) -> dict:
    """The host's state of (at least) these paths and units, fetched once for everything
    registered and again only after an operation has changed the host."""
    register(files, dirs, units, stat=stat)
    plan = _plan()
    epoch = _epoch()
    wanted = (tuple(plan.files), tuple(plan.dirs), tuple(plan.units), tuple(plan.commands))
    if plan.value is None or plan.epoch != epoch or plan.fetched != wanted:
        value = dict(host.get_fact(HostState, files=list(wanted[0]), dirs=list(wanted[1]),
                                   units=list(wanted[2]), commands=list(wanted[3])))
        outputs = value.get("outputs", {})
        # by command: outputs come back numbered in the order they were asked for
        value["outputs"] = {c: outputs.get(i, outputs.get(c, ""))
                            for i, c in enumerate(wanted[3])}
        plan.value, plan.epoch, plan.fetched = value, epoch, wanted
    return plan.value


def exists(path: str) -> bool:
    """Whether ``path`` exists on the host (stat-only, from the same one-pass read)."""
    return path in current(stat=[path])["files"]


def output(command: str) -> str:
    """Stdout of a read-only shell command on the host, from the same one-pass read."""
    register(commands=[command])
    return current()["outputs"][command]


def registered_units() -> list[str]:
    """Every unit the tasks planned so far keep running (what the status mail watches)."""
    return list(_plan().units)
