"""Run one command on an inventory host over SSH, with the inventory's own SSH data.

The ``mailops`` command sometimes needs a host for a moment outside a deploy (the
DKIM probe, removing a retired key file). It connects exactly as pyinfra's ssh
connector would for the same host: the host data keys ``ssh_hostname`` (default:
the inventory name), ``ssh_user``, ``ssh_port``, ``ssh_key``,
``ssh_known_hosts_file`` and ``ssh_strict_host_key_checking``, and ``_sudo`` for a
non-root user. OpenSSH's client runs it (``BatchMode``: never a password
prompt), so ``~/.ssh/config`` and the agent work as they do for the operator.

Host names with a pyinfra connector prefix (``@local``, ``@docker/…``,
``@vagrant/…``) have no SSH address of their own: they are refused with a clear
message rather than guessed at.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost

CONNECT_TIMEOUT = 10  # seconds for the TCP connection and SSH handshake


class SshError(RuntimeError):
    """The host could not be reached, or the command failed; the message says which."""


def _target(host: MailHost) -> str:
    data = host.data
    hostname = data.get("ssh_hostname") or host.name
    if str(hostname).startswith("@"):
        raise SshError(
            f"host {host.name}: found connector {hostname!r}; expected an SSH host — mailops "
            "reaches hosts over SSH for probes and key removal. Give the host an "
            "`ssh_hostname` in the inventory."
        )
    user = data.get("ssh_user")
    return f"{user}@{hostname}" if user else str(hostname)


def ssh_command(host: MailHost) -> list[str]:
    """The ``ssh`` argv (without the remote command) for an inventory host."""
    data = host.data
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
           "-o", "LogLevel=ERROR"]
    if data.get("ssh_port"):
        cmd += ["-p", str(int(data["ssh_port"]))]
    if data.get("ssh_key"):
        cmd += ["-i", str(data["ssh_key"]), "-o", "IdentitiesOnly=yes"]
    if data.get("ssh_known_hosts_file"):
        cmd += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    strict = data.get("ssh_strict_host_key_checking")
    if strict is not None:
        value = {True: "yes", False: "no"}.get(strict, str(strict))
        cmd += ["-o", f"StrictHostKeyChecking={value}"]
    return [*cmd, "--", _target(host)]


def remote_command(host: MailHost, argv: Sequence[str]) -> str:
    """``argv`` quoted for the remote shell, behind ``sudo -n`` when the data says _sudo."""
    quoted = shlex.join(argv)
    if host.data.get("_sudo"):  # the login user may come from ~/.ssh/config: ask sudo anyway
        return "sudo -n -- " + quoted
    return quoted


def run(host: MailHost, argv: Sequence[str], *, input: bytes | None = None,
        timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``argv`` on ``host`` (as root: directly, or through sudo) and return the result.

    ``input`` is fed to the remote command's stdin. With ``check``, a non-zero exit
    raises SshError naming the host, the command and the tail of its stderr (255 is
    ssh's own: the host was not reached or refused the login).
    """
    cmd = [*ssh_command(host), remote_command(host, argv)]
    try:
        result = subprocess.run(cmd, input=input if input is not None else b"",
                                capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SshError(f"host {host.name}: `{shlex.join(argv)}` did not finish within "
                       f"{timeout:g}s") from None
    except FileNotFoundError:
        raise SshError("the OpenSSH client (`ssh`) is not installed on this machine; "
                       "install openssh-client") from None
    if check and result.returncode != 0:
        err = result.stderr.decode("utf-8", "replace").strip()[-1500:]
        if result.returncode == 255:
            raise SshError(f"host {host.name}: SSH to {_target(host)} failed "
                           f"({err or 'no message'}); check ssh_hostname/ssh_user/ssh_key "
                           "in the inventory and that the host is up")
        raise SshError(f"host {host.name}: `{shlex.join(argv)}` exited with "
                       f"{result.returncode}: {err}")
    return result
