"""Read a pyinfra inventory file the same way `pyinfra` does, into validated settings.

The `mailops` command and `deploy.py` both come through here, so the deploy,
the DNS records, the DKIM rotation and the checks can never disagree about
what the inventory says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
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
    path = Path(path)
    if not path.is_file():
        raise SettingsError([(f"{path}: found no such file; expected a pyinfra inventory "
                             "such as inventories/prod.py")], str(path))
    hosts, problems = [], []
    for name, data in _host_data(path).items():
        if "mailops" not in data:
            continue
        try:
            hosts.append(MailHost(name, data, parse_mail_settings(data["mailops"])))
        except SettingsError as e:
            problems += [f"host {name}: {p}" for p in e.problems]
    if problems:
        raise SettingsError(problems, str(path))
    if not hosts:
        raise SettingsError([(f"{path}: found no host with `mailops` data; expected at least "
                             "one host tuple (name, {'mailops': {...}})")], str(path))
    return hosts


def _host_data(path: Path) -> dict[str, dict[str, Any]]:
    """Host name -> data, by pyinfra's documented inventory rules.

    A module-level list (or a (hosts, data) tuple) whose items are host names or
    (name, data) tuples is a group; names starting with "_" are not. Data
    precedence, lowest first: group_data/all.py, each group's data and
    group_data/<group>.py, the host's own data. We read the file ourselves rather
    than through pyinfra_cli, whose import monkey-patches the whole process
    with gevent.
    """
    namespace = _run_file(path, {"__name__": "inventory"})

    group_data: dict[str, dict[str, Any]] = {}
    for folder in dict.fromkeys([Path.cwd() / "group_data", path.parent / "group_data"]):
        for file in sorted(folder.glob("*.py")) if folder.is_dir() else []:
            ns = _run_file(file, {})
            group_data.setdefault(file.stem, {}).update(
                {k: v for k, v in ns.items() if not k.startswith("_")
                 and not isinstance(v, ModuleType) and not callable(v)})

    memberships: dict[str, list[str]] = {}
    own: dict[str, dict[str, Any]] = {}
    for group, value in namespace.items():
        if group.startswith("_"):
            continue
        members, data = (value if isinstance(value, tuple) and len(value) == 2
                         and isinstance(value[1], dict) else (value, {}))
        if not isinstance(members, list) or not all(
                isinstance(m, str) or (isinstance(m, tuple) and len(m) == 2) for m in members):
            continue
        group_data.setdefault(group, {}).update(data)
        for m in members:
            name, host = (m, {}) if isinstance(m, str) else m
            memberships.setdefault(name, []).append(group)
            own.setdefault(name, {}).update(host)

    result = {}
    for name, groups in memberships.items():
        merged = dict(group_data.get("all", {}))
        for g in groups:
            merged.update(group_data.get(g, {}))
        merged.update(own[name])
        result[name] = merged
    return result


def _run_file(path: Path, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute an inventory or group-data file; its errors become a clear SettingsError."""
    namespace["__file__"] = str(path)
    try:
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - it is code
    except SettingsError:
        raise  # the file validated its own settings: that message is already clear
    except Exception as e:  # noqa: BLE001 - any error in the operator's file
        raise SettingsError([f"{path}: running it failed with {type(e).__name__}: {e}; "
                             "expected a pyinfra inventory that runs without errors"],
                            str(path)) from None
    return namespace


def domains_of(hosts: list[MailHost]) -> dict[str, list[MailHost]]:
    """Hosted domain name -> the hosts that serve (and sign for) it."""
    out: dict[str, list[MailHost]] = {}
    for h in hosts:
        for d in h.settings.domains:
            out.setdefault(d.name, []).append(h)
    return out
