"""The Vagrant VM's SSH host key, kept in the project's own state, not ~/.ssh/known_hosts.

pyinfra's ``@vagrant`` connector reads ``vagrant ssh-config`` but not its
``UserKnownHostsFile``, so the VM's key would be pinned in the user's own
known_hosts, and the next ``vagrant destroy && vagrant up`` at the same address
would fail with a changed-host-key error. Instead the inventory names
``.vagrant/mailops/known_hosts`` (``ssh_known_hosts_file``, pinned on first use:
``ssh_strict_host_key_checking = accept-new``), and that file is emptied whenever
Vagrant's id of the machine changes — a re-created VM has a new id (Vagrant keeps it
in ``.vagrant/machines/<name>/<provider>/id``) and new host keys.
"""

from __future__ import annotations

from pathlib import Path


def machine_id(project: Path, machine: str) -> str:
    """Vagrant's id of the machine ("" when it was never created)."""
    ids = sorted((project / ".vagrant" / "machines" / machine).glob("*/id"))
    return ids[0].read_text().strip() if ids else ""


def known_hosts_file(project: Path, machine: str) -> Path:
    """``.vagrant/mailops/known_hosts`` for the machine, emptied when it was re-created."""
    state = project / ".vagrant" / "mailops"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    known, seen = state / f"known_hosts.{machine}", state / f"known_hosts.{machine}.id"
    current = machine_id(project, machine)
    if not seen.is_file() or seen.read_text().strip() != current or not known.is_file():
        known.write_text("")  # another VM: its key is pinned again on the next connection
        seen.write_text(current + "\n")
    return known
