"""Tasks tested the way pyinfra tests its operations: arguments and faked facts in,
commands out (pyinfra's tests/operations/<operation>/<case>.json). Nothing connects.

``run_task(configure, *args, facts={...})`` runs one task's ``configure`` against an
in-memory pyinfra host whose facts come from ``facts`` — keyed by fact class name,
then (for facts that take one) by the path or command asked about — over those of a
fresh Debian host, and returns the operations in order with the commands each would
run. Uploads appear as ``upload <dest>`` and keep their content for assertions; a
staged set's archive (tasks._staged) also lists ``upload <dest>`` for each file in it.
Host state read in one pass (tasks._snapshot.HostState) is faked as ``{"files":
{path: (kind, mode, user, group, sha256)}, "units": {unit: (active, enabled)}}``.
"""

from __future__ import annotations

import io
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from debian_facts import debian
from pyinfra.api import Config, Inventory, State
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host, ctx_state

# `tasks` is imported from the checkout, as pyinfra does for deploy.py (it runs from it).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))



# What a freshly installed Debian host answers (facts not listed: pyinfra's defaults).
# Debian 12 here; tests of what differs on 13 pass LinuxDistribution=debian(13, ...).
FRESH = {"Os": "Linux", "Which": "/usr/bin/found", "Command": "", "DebPackages": {},
         "Groups": [], "Users": {}, "SystemdStatus": {}, "SystemdEnabled": {},
         "HostState": {"files": {}, "units": {}},
         "LinuxDistribution": debian(12, "bookworm")}


@dataclass
class Op:
    name: str
    commands: list[str] = field(default_factory=list)
    uploads: dict[str, str] = field(default_factory=dict)  # dest -> content
    modes: dict[str, str] = field(default_factory=dict)  # dest -> "600 user:group" (staged)


@dataclass
class Run:
    ops: list[Op]
    reads: list[str] = field(default_factory=list)  # fact classes read, in order

    def op(self, fragment: str) -> Op:
        (found,) = [o for o in self.ops if fragment in o.name]
        return found

    def names(self) -> list[str]:
        return [o.name for o in self.ops]

    def commands(self) -> list[str]:
        return [c for o in self.ops for c in o.commands]

    def upload(self, dest: str) -> str:
        (content,) = [o.uploads[dest] for o in self.ops if dest in o.uploads]
        return content


def _content(src: Any) -> str:
    if isinstance(src, io.StringIO | io.BytesIO):
        value = src.getvalue()
        return value.decode() if isinstance(value, bytes) else value
    return Path(src).read_text()


def _members(archive: str) -> list[tuple[str, str, str]]:
    with tarfile.open(archive) as tar:
        return [("/" + m.name, tar.extractfile(m).read().decode(),
                 f"{m.mode:o} {m.uname}:{m.gname}") for m in tar.getmembers()]


@pytest.fixture
def run_task():
    def run(configure, *args, facts: dict[str, Any] | None = None) -> Run:
        given = {**FRESH, **(facts or {})}
        inventory = Inventory((["mx1.example.test"], {}))
        # as `pyinfra -y`: operations are evaluated once, when executed
        state = State(inventory, Config(), check_for_changes=False)
        host = inventory.get_host("mx1.example.test")

        def get_fact(cls, *a, **kwargs):
            value = given.get(cls.__name__, None)
            key = kwargs.get("path", kwargs.get("command"))
            if isinstance(value, dict) and cls.__name__ in facts_by_argument:
                return value.get(key, cls().default())
            return cls().default() if value is None else value

        facts_by_argument = {"File", "Sha256File", "Directory", "Link", "Command", "FindInFile"}
        def counted(cls, *a, **kwargs):
            reads.append(cls.__name__)
            return get_fact(cls, *a, **kwargs)

        reads: list[str] = []
        host.get_fact = counted
        # Tasks remember their operations per host name for later tasks of the same
        # deploy (tasks.tls.changes, tasks.relay.changes): each run is a new deploy.
        from tasks import relay, tls

        tls._CHANGES.clear()
        relay._CHANGES.clear()
        with ctx_state.use(state), ctx_host.use(host):
            configure(*args)
            # Then "execute" in order, as pyinfra does after planning: `_if` conditions are
            # evaluated and each operation is complete (changed = it had commands) before
            # the next one is evaluated. Nothing is sent anywhere.
            state.is_executing = True
            ops = []
            for op_hash in state.get_op_order():
                data = state.get_op_data_for_host(host, op_hash)
                op = Op(" / ".join(sorted(state.get_op_meta(op_hash).names)))
                for command in data.command_generator():
                    if isinstance(command, FileUploadCommand) and \
                            command.dest.endswith(".bundle.tar"):
                        # tasks._staged: one archive; list what it puts live, in order.
                        op.commands.append(f"upload {command.dest}")
                        for dest, content, mode in _members(command.src):
                            op.commands.append(f"upload {dest}")
                            op.uploads[dest], op.modes[dest] = content, mode
                    elif isinstance(command, FileUploadCommand):
                        op.commands.append(f"upload {command.dest}")
                        op.uploads[command.dest] = _content(command.src)
                    elif isinstance(command, StringCommand):
                        op.commands.append(command.get_raw_value())
                    else:
                        op.commands.append(type(command).__name__)
                data.operation_meta.set_complete(True, op.commands, CommandOutput([]))
                ops.append(op)
        return Run(ops, reads)

    return run
