"""The rotation's ports: everything it does outside the keystore goes through these.

The rotation (rotation.py) is pure orchestration; it is given an object with
these five methods. Tests pass fakes; the CLI passes :func:`default_ports`,
which adapts the real modules (DNS providers, the host deployer, the probe)
that other parts of mailops provide.

Contract of each port (all raise on failure; the rotation records nothing for
a step whose port raised, so the next run repeats it — ports must therefore be
idempotent):

- ``publish(domain, records)``: make the domain's DKIM TXT records in DNS be
  exactly ``records`` (the records mailops owns under ``_domainkey``; nothing
  else is touched). Adding a key publishes the old set plus the new record; a
  withdrawal publishes the set without the withdrawn record. The real port
  applies only the DKIM changes of the domain's ``mailops dns`` plan, so the
  rotation never changes MX/SPF/DMARC records behind the operator's back; a
  domain on the "manual" provider fails with the records to publish by hand.
- ``wait_visible(domain, name, value, timeout) -> bool``: True once EVERY
  authoritative name server of the zone serves the TXT ``value`` at ``name``
  (queried directly, not through a cache); False after ``timeout`` seconds.
- ``deploy(domain, key)``: put ``key``'s private key on every host that signs
  for ``domain`` (0600, owned by opendkim), point the KeyTable/SigningTable at
  it and reload OpenDKIM; ``key=None`` deploys the signing plan without an
  override (the active key, or no signing for a domain that has none). The real
  port (mailops.dkim.steps.deploy_key) runs the real deploy with pyinfra's
  ``--data mailops_dkim_sign_with=<domain>=<selector>``, so the files are
  rendered by the one deploy path; it never logs key bytes.
- ``probe(domain, key) -> bool``: on each host, sign a probe message with the
  running OpenDKIM and verify it with dkimpy against the live DNS record; True
  only if every host's signature verifies with ``key.selector``. The real port
  (mailops.dkim.probe.probe_signing) raises ProbeFailed with the host,
  domain, expected selector and what it got instead of returning False.
- ``destroy_on_hosts(domain, key)``: delete ``key``'s private key file from
  every host (the record is already withdrawn). Must succeed when the file is
  already gone.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost
    from ..inventory import MailSettings
    from .keystore import Key


@dataclass(frozen=True)
class DkimRecord:
    """One DKIM key record: TXT ``value`` at ``name`` (no trailing dot)."""

    name: str
    value: str
    selector: str

    @classmethod
    def of(cls, key: Key) -> DkimRecord:
        return cls(key.record_name, key.txt_value, key.selector)

    def __repr__(self) -> str:
        return f"DkimRecord({self.name!r})"


class RotationPorts(Protocol):
    def publish(self, domain: str, records: Sequence[DkimRecord]) -> None: ...

    def wait_visible(self, domain: str, name: str, value: str, timeout: float) -> bool: ...

    def deploy(self, domain: str, key: Key | None) -> None: ...

    def probe(self, domain: str, key: Key) -> bool: ...

    def destroy_on_hosts(self, domain: str, key: Key) -> None: ...


class PortsUnavailable(RuntimeError):
    """A module the real ports need does not exist (yet)."""


# Where each real port comes from: (module, function, signature). Kept in one
# table so the owners of those modules can see the contract at a glance. The
# two DNS ports are adapters below over mailops.dns.plan / mailops.dns.wait.
REQUIRED = {
    "publish": ("mailops.dns.plan", "make_plan",
                "make_plan(hosts, dkim, only, known_selectors) and apply_plan(plans)"),
    "wait_visible": ("mailops.dns.wait", "wait_for",
                     "wait_for(records, timeout, nameservers=...) raising WaitError"),
    "deploy": ("mailops.dkim.steps", "deploy_key",
               "deploy_key(hosts: list[MailHost], domain: str, key: Key | None, *, "
               "inventory) -> None"),
    "probe": ("mailops.dkim.probe", "probe_signing",
              "probe_signing(hosts: list[MailHost], domain: str, key: Key) -> bool"),
    "destroy_on_hosts": ("mailops.dkim.steps", "destroy_key",
                         "destroy_key(hosts: list[MailHost], domain: str, key: Key, *, "
                         "inventory) -> None"),
}


def _resolve(port: str):
    module_name, attr, _ = REQUIRED[port]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return None
        raise
    return getattr(module, attr, None)


def _is_dkim_name(name: str, domain: str) -> bool:
    return name.endswith(f"._domainkey.{domain}")


class _RealPorts:
    def __init__(self, hosts: list[MailHost], settings: MailSettings, funcs: dict,
                 inventory: str | Path | None = None):
        self._hosts = hosts
        self._settings = settings
        self._f = funcs
        # The host ports run the real deploy (`pyinfra <inventory> deploy.py`): they need
        # the very inventory file the CLI read (its -i), not a guess.
        self._inventory = inventory

    def _hosts_for(self, domain: str) -> list[MailHost]:
        return [h for h in self._hosts if any(d.name == domain for d in h.settings.domains)]

    def _all_settings(self) -> list[MailSettings]:
        return [h.settings for h in self._hosts] or [self._settings]

    def publish(self, domain, records):
        """Apply only the DKIM part of the domain's DNS plan, with ``records`` as the keys."""
        from ..dns.plan import apply_plan, make_plan
        from .plan import known_selectors

        known = known_selectors(self._all_settings())
        dkim = {domain: [(r.selector, r.value) for r in records]}
        plans = make_plan(self._all_settings(), dkim, only=[domain], known_selectors=known)
        for plan in plans:
            if plan.kind == "manual":
                raise RuntimeError(
                    f"{domain} uses dns.provider 'manual': mailops cannot publish its DKIM "
                    "records. Publish these TXT records by hand (`mailops dns zone` prints "
                    "them), or configure an rfc2136/cloudflare provider: "
                    + "; ".join(f"{r.name} = {r.value!r}" for r in records)
                )
            # A rotation changes DKIM keys only; `mailops dns apply` owns the rest.
            plan.changes = [c for c in plan.changes if _is_dkim_name(c.name, domain)]
            refused = plan.refused()
            if refused:
                raise RuntimeError(
                    f"{domain}: the DKIM change would delete records mailops did not create "
                    f"({', '.join(c.name for c in refused)}); run `mailops dns plan` to see "
                    "them and delete them by hand if they are really unused"
                )
        apply_plan(plans)

    def wait_visible(self, domain, name, value, timeout):
        from ..dns.query import nameservers_for
        from ..dns.records import records_for_hosts
        from ..dns.wait import WaitError, wait_for

        selector = name.split(".", 1)[0]
        wanted = [r for r in records_for_hosts(self._all_settings(),
                                               {domain: [(selector, value)]})
                  if r.name == name and r.type == "TXT"]
        if not wanted:
            raise RuntimeError(f"{name}: the DNS layer has no DKIM record for it")
        # Finding the servers may fail for other reasons than time: that raises.
        servers = nameservers_for(wanted[0].zone)
        try:
            wait_for(wanted, timeout=timeout, nameservers=servers)
        except WaitError:
            return False
        return True

    def deploy(self, domain, key):
        self._f["deploy"](self._hosts_for(domain), domain, key, inventory=self._inventory)

    def probe(self, domain, key):
        return bool(self._f["probe"](self._hosts_for(domain), domain, key))

    def destroy_on_hosts(self, domain, key):
        self._f["destroy_on_hosts"](self._hosts_for(domain), domain, key,
                                    inventory=self._inventory)


def default_ports(hosts: list[MailHost], settings: MailSettings,
                  inventory: str | Path | None = None) -> RotationPorts:
    """The real ports, or PortsUnavailable naming every missing piece.

    ``inventory`` is the inventory file ``hosts`` were read from: deploying a key
    runs the real deploy against it.

    Checked up front, before the rotation generates or records anything, so a
    missing module can never leave a half-started rotation behind.
    """
    funcs, missing = {}, []
    for port, (module_name, _attr, signature) in REQUIRED.items():
        func = _resolve(port)
        if func is None:
            missing.append(f"  - {port}: not available yet — needs {module_name}.{signature}")
        else:
            funcs[port] = func
    if missing:
        raise PortsUnavailable(
            "DKIM rotation cannot run on real hosts and DNS yet: these parts of mailops are "
            "not available yet:\n" + "\n".join(missing) + "\nNothing was generated, published "
            "or deployed. `mailops dkim status`, `mailops dkim rotate --dry-run` and "
            "`mailops dkim retire --dry-run` work with the keystore alone."
        )
    return _RealPorts(hosts, settings, funcs, inventory)
