"""Run commands on inventory hosts through pyinfra's inventory and connectors.

The ``mailops`` commands reach a host exactly as ``pyinfra inventories/… deploy.py``
does: the host's name and data go into a :class:`pyinfra.api.Inventory`, and the
connector pyinfra picks for that name connects — ``ssh`` (``ssh_hostname``,
``ssh_user``, ``ssh_port``, ``ssh_key``, ``ssh_known_hosts_file``,
``ssh_strict_host_key_checking``, ``~/.ssh/config``), ``@local``, ``@docker/…``,
``@vagrant/…`` (``vagrant status`` + ``vagrant ssh-config``). pyinfra's own
execution arguments in the host data (``_sudo``, ``_sudo_user``, ``_su_user``…)
apply to every command as they do to operations (pyinfra docs: "Global Arguments",
"Host data"). So any inventory that deploys also operates.

One pyinfra state per process holds every connection; it is closed at exit.
"""

from __future__ import annotations

import atexit
import io
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..inventory import InventoryHost

DEFAULT_TIMEOUT = 60  # seconds a command may take on the host


class HostError(RuntimeError):
    """The host could not be reached, or the command failed; the message says which."""


@dataclass(frozen=True)
class Result:
    ok: bool  # the command exited 0
    stdout: str
    stderr: str


class _Connections:
    """Inventory host name (and data) -> a connected pyinfra Host, made on first use."""

    def __init__(self) -> None:
        self._hosts: dict[str, Any] = {}

    def get(self, host: InventoryHost) -> Any:
        key = repr((host.name, sorted(host.data.items(), key=lambda kv: kv[0])))
        if key not in self._hosts:
            self._hosts[key] = _connect(host)
        return self._hosts[key]

    def close(self) -> None:
        for pyhost in self._hosts.values():
            try:
                pyhost.disconnect()
            except Exception:  # noqa: BLE001,S110 - closing at exit: nothing left to tell
                pass
        self._hosts.clear()


_CONNECTIONS = _Connections()
atexit.register(_CONNECTIONS.close)


def _connect(host: InventoryHost) -> Any:
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.exceptions import ConnectError, PyinfraError

    data = {k: v for k, v in host.data.items() if k != "mailops"}
    try:
        with _greenlet_threads():
            inventory = Inventory(([(host.name, data)], {}))
        state = State(inventory, Config())
    except PyinfraError as e:  # e.g. no running Vagrant machine, an unknown connector
        raise HostError(f"host {host.name}: pyinfra could not make it a host: {e}") from None
    except Exception as e:  # noqa: BLE001 - a connector's own lookup (vagrant, docker) failed
        raise HostError(f"host {host.name}: pyinfra's connector could not list it "
                        f"({type(e).__name__}: {e})") from None
    found = list(state.inventory)
    if len(found) != 1:
        names = ", ".join(h.name for h in found) or "none"
        raise HostError(f"host {host.name}: the connector found {len(found)} hosts ({names}); "
                        "expected exactly one — name one machine, e.g. @vagrant/mx1")
    pyhost = found[0]
    try:
        pyhost.connect(show_errors=False, raise_exceptions=True)
    except ConnectError as e:
        raise HostError(f"host {host.name}: could not connect ({e}); check its connection "
                        "data in the inventory (ssh_hostname, ssh_user, ssh_key, "
                        "ssh_known_hosts_file) and that the host is up") from None
    return pyhost


@contextmanager
def _greenlet_threads() -> Iterator[None]:
    """Let pyinfra's @vagrant connector run its lookups in greenlets, not threads.

    It runs ``vagrant ssh-config`` in a threading.Thread per machine through gevent's
    subprocess, which can only watch a child from gevent's main loop. pyinfra's own
    command line patches threading with gevent for the whole process; mailops does not
    (it would change every library's sockets), so only this lookup gets greenlets.
    """
    import gevent
    from pyinfra.connectors import vagrant

    class GreenletThread:
        def __init__(self, target, args=()):
            self._greenlet = gevent.Greenlet(target, *args)

        def start(self) -> None:
            self._greenlet.start()

        def join(self) -> None:
            self._greenlet.join()

    original = vagrant.Thread
    vagrant.Thread = GreenletThread
    try:
        yield
    finally:
        vagrant.Thread = original


def _arguments(pyhost: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """pyinfra's connector arguments: the host data's defaults (``_sudo``…), then ours."""
    from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments

    arguments, _ = pop_global_arguments(pyhost.state, pyhost, dict(overrides))
    return {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}


def run(host: InventoryHost, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
        check: bool = True) -> Result:
    """Run ``argv`` on ``host`` (as the inventory's user, through sudo if its data says so).

    With ``check``, a failure raises HostError naming the host, the command and the
    tail of what it wrote to stderr.
    """
    pyhost = _CONNECTIONS.get(host)
    command = shlex.join(argv)
    try:
        ok, output = pyhost.run_shell_command(
            command, print_output=False, print_input=False,
            **_arguments(pyhost, {"_timeout": int(timeout)}))
    except (TimeoutError, OSError) as e:
        raise HostError(f"host {host.name}: `{command}` did not finish "
                        f"({type(e).__name__}: {e or f'over {timeout:g}s'})") from None
    result = Result(ok, output.stdout, output.stderr)
    if check and not ok:
        raise HostError(f"host {host.name}: `{command}` failed: "
                        f"{result.stderr.strip()[-1500:] or 'no message'}")
    return result


def put(host: InventoryHost, content: bytes, remote: str) -> None:
    """Write ``content`` to the file ``remote`` on ``host`` (pyinfra uploads to a temporary
    file and moves it into place)."""
    pyhost = _CONNECTIONS.get(host)
    if not pyhost.put_file(io.BytesIO(content), remote, **_arguments(pyhost, {})):
        raise HostError(f"host {host.name}: could not write {remote}")


def get(host: InventoryHost, remote: str) -> bytes:
    """The content of the file ``remote`` on ``host``."""
    pyhost = _CONNECTIONS.get(host)
    buffer = io.BytesIO()
    if not pyhost.get_file(remote, buffer, **_arguments(pyhost, {})):
        raise HostError(f"host {host.name}: could not read {remote}")
    return buffer.getvalue()


def close() -> None:
    """Disconnect every host this process connected to."""
    _CONNECTIONS.close()
