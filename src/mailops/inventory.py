"""Read a pyinfra inventory file the same way `pyinfra` does, into validated settings.

The `mailops` command and `deploy.py` both come through here, so the deploy,
the DNS records, the DKIM rotation and the checks can never disagree about
what the inventory says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import MailSettings, SettingsError, parse_mail_settings


@dataclass(frozen=True)
class MailHost:
    name: str  # the inventory name pyinfra uses
    data: dict[str, Any]  # the host's raw pyinfra data (ssh_hostname, ssh_key, ...)
    settings: MailSettings


def load_inventory(path: str | Path) -> list[MailHost]:
    """Every host in the inventory that carries `mailops` data, validated.

    Raises SettingsError (listing every problem of every host) before anything
    is contacted.
    """
    from pyinfra_cli.inventory import make_inventory_from_files

    path = Path(path)
    if not path.is_file():
        raise SettingsError([f"{path}: found no such file; expected a pyinfra inventory "
                             "such as inventories/prod.py"], str(path))
    inventory = make_inventory_from_files(str(path), cwd=str(Path.cwd()))
    hosts, problems = [], []
    for host in inventory:
        data = host.data.dict()
        if "mailops" not in data:
            continue
        try:
            hosts.append(MailHost(host.name, data, parse_mail_settings(data["mailops"])))
        except SettingsError as e:
            problems += [f"host {host.name}: {p}" for p in e.problems]
    if problems:
        raise SettingsError(problems, str(path))
    if not hosts:
        raise SettingsError([f"{path}: found no host with `mailops` data; expected at least "
                             "one host tuple (name, {'mailops': {...}})"], str(path))
    return hosts


def domains_of(hosts: list[MailHost]) -> dict[str, list[MailHost]]:
    """Hosted domain name -> the hosts that serve (and sign for) it."""
    out: dict[str, list[MailHost]] = {}
    for h in hosts:
        for d in h.settings.domains:
            out.setdefault(d.name, []).append(h)
    return out
