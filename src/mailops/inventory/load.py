"""The one loader: a pyinfra inventory file -> a validated :class:`Inventory`.

Every entry point comes through here — the inventory file itself when pyinfra
runs it (:func:`check_here`, so a bad inventory stops before pyinfra connects
to anything), ``deploy.py`` (:func:`for_deploy`) and every ``mailops`` command
(:func:`load_inventory`). Each host's ``mailops`` data is validated once per
process: the result is kept, keyed by the data's content, so a deploy checks
its inventory once however many entry points and tasks read it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from . import rules
from .errors import SettingsError, describe
from .model import MailSettings


@dataclass(frozen=True)
class InventoryHost:
    """A host of the inventory that carries ``mailops`` data."""

    name: str  # the inventory name pyinfra uses
    data: dict[str, Any]  # the host's raw pyinfra data (ssh_hostname, ssh_key, ...)
    settings: MailSettings


@dataclass(frozen=True)
class Inventory:
    """Every mail host of one inventory, validated; iterates over its hosts.

    It answers the questions several commands share: which hosts serve a domain
    (:meth:`serving`: its MX hosts, its MTA-STS policy's mx lines, where its key is
    deployed), every hosted domain (:meth:`domains`), each host's settings.
    """

    hosts: tuple[InventoryHost, ...]
    source: str = "inventory"

    def __iter__(self) -> Iterator[InventoryHost]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, index: int) -> InventoryHost:
        return self.hosts[index]

    def host(self, name: str) -> InventoryHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise SettingsError([f"host {name}: found no `mailops` data; expected a host tuple "
                             "(name, {'mailops': {...}}) — see inventories/prod.py"],
                            self.source)

    @property
    def settings(self) -> list[MailSettings]:
        return [h.settings for h in self.hosts]

    def domains(self) -> dict[str, list[InventoryHost]]:
        """Hosted domain name -> the hosts that serve (and sign for) it."""
        return domains_of(self.hosts)

    def serving(self, domain: str) -> list[InventoryHost]:
        """The hosts that serve a domain (its MX hosts, the MTA-STS policy's mx lines)."""
        return self.domains().get(domain, [])


def domains_of(hosts: Any) -> dict[str, list[InventoryHost]]:
    """Hosted domain name -> the hosts that serve (and sign for) it."""
    out: dict[str, list[InventoryHost]] = {}
    for h in hosts:
        for d in h.settings.domains:
            out.setdefault(d.name, []).append(h)
    return out


# --------------------------------------------------------------------------- validation

# The text of a host's mailops data -> its settings. Keyed by content, not identity:
# pyinfra hands the deploy a copy of the data the inventory file checked, and an
# inventory that runs another one may change a value after that one checked itself.
_VALIDATED: dict[str, MailSettings] = {}


def _validated(raw: Any) -> list[str] | MailSettings:
    """The host's settings (validated at most once per content), or its problems."""
    # The keystore default comes from the environment: part of what was validated.
    text = repr((raw, os.environ.get("MAILOPS_KEYSTORE")))
    if text in _VALIDATED:
        return _VALIDATED[text]
    found = _problems(raw)
    if isinstance(found, MailSettings):
        _VALIDATED[text] = found
    return found


def parse_mail_settings(raw: Any, source: str = "mailops") -> MailSettings:
    """Validate one host's ``mailops`` data; raise SettingsError naming every problem."""
    found = _validated(raw)
    if isinstance(found, MailSettings):
        return found
    raise SettingsError(found, source)


def _problems(raw: Any) -> list[str] | MailSettings:
    from .errors import problems_from

    if not isinstance(raw, dict):
        return [f"mailops: found {describe(raw)}; expected a mapping (dict) — see "
                "inventories/prod.py for an example"]
    try:
        settings = MailSettings.model_validate(raw)
    except ValidationError as e:
        return problems_from(e, MailSettings, "mailops")  # never chained: inputs are secret
    if not settings.domains:
        return ["mailops.domains: found no domains; expected at least one hosted domain"]
    return rules.check_host(settings) or settings


def inventory_of(host_data: Mapping[str, Mapping[str, Any]], source: str) -> Inventory:
    """Validate every host that carries ``mailops`` data, then the rules across hosts."""
    hosts, problems = [], []
    for name, data in host_data.items():
        if "mailops" not in data:
            continue
        found = _validated(data["mailops"])
        if isinstance(found, MailSettings):
            hosts.append(InventoryHost(name, dict(data), found))
        else:
            problems += [f"host {name}: {p}" for p in found]
    problems += rules.check_inventory([(h.name, h.settings) for h in hosts])
    if not hosts and not problems:
        problems.append(f"{source}: found no host with `mailops` data; expected at least one "
                        "host tuple (name, {'mailops': {...}})")
    if problems:
        raise SettingsError(problems, source)
    return Inventory(tuple(hosts), source)


# --------------------------------------------------------------------------- entry points


def check_here(namespace: dict[str, Any]) -> Inventory:
    """Called at the end of an inventory file: validate it now, as pyinfra reads it.

    pyinfra runs the inventory file before it connects to any host, so an error here
    stops every command before anything is touched. The deploy and
    :func:`load_inventory` find each host's data already validated and do not
    validate it again (unless the data changed since).
    """
    path = Path(namespace.get("__file__", "inventory"))
    return inventory_of(_host_data(namespace, path), str(path))


def load_inventory(path: str | Path) -> Inventory:
    """Every host in the inventory file that carries ``mailops`` data, validated.

    Raises SettingsError (listing every problem of every host) before anything
    is contacted.
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsError([(f"{path}: found no such file; expected a pyinfra inventory "
                             "such as inventories/prod.py")], str(path))
    namespace = _run_file(path, {"__name__": "inventory"})
    return inventory_of(_host_data(namespace, path), str(path))


def for_deploy(pyinfra_inventory: Any) -> Inventory:
    """The inventory of a running pyinfra deploy (its hosts' data), validated once."""
    return inventory_of({h.name: {"mailops": h.data.get("mailops")} for h in pyinfra_inventory
                         if h.data.get("mailops") is not None}, "inventory")


# --------------------------------------------------------------------------- pyinfra files


def _host_data(namespace: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """Host name -> data, by pyinfra's documented inventory rules.

    A module-level list (or a (hosts, data) tuple) whose items are host names or
    (name, data) tuples is a group; names starting with "_" are not. Data
    precedence, lowest first: group_data/all.py, each group's data and
    group_data/<group>.py, the host's own data. The file is read here rather than
    through pyinfra_cli, whose import monkey-patches the whole process with gevent.
    """
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
        raise  # the file validated itself (check_here): that message is already clear
    except Exception as e:  # noqa: BLE001 - any error in the operator's file
        raise SettingsError([f"{path}: running it failed with {type(e).__name__}: {e}; "
                             "expected a pyinfra inventory that runs without errors"],
                            str(path)) from None
    return namespace
