"""Where every number on the dashboard comes from: the modules the commands use.

Nothing here computes a verdict of its own: the posture is `mailops check`'s
(checks.posture.run_checks), the keys and their next step `mailops dkim status`'s
(dkim.report.next_step), the pending DNS changes `mailops dns plan`'s
(dns.plan.make_plan), bounces and suppression the host package's store queries that
`mailops bounces` / `mailops suppression` run (cli.bounces.run_on_host), the queue
`postqueue -j` through the connector as `mailops check` reads it
(checks.relay.host_queue), the delivery log `mailops messages` / `trace` / `send-test`'s
(mailops.delivery).

Hosts are reached through pyinfra's connectors (mailops.hosts.connect), whose
connections are made and used from one thread: every call that may touch a host runs
on :attr:`Sources.worker`, one at a time, whichever request thread asked.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POSTURE_TTL = 120.0  # seconds an overview's checks are shown before they run again


@dataclass
class Posture:
    """`mailops check`'s findings, grouped for the overview, and when they were made."""

    at: dt.datetime
    subjects: list[tuple[str, str, list[Any]]]  # (subject, worst status, findings)

    @property
    def age(self) -> float:
        return (dt.datetime.now(dt.UTC) - self.at).total_seconds()


@dataclass
class Sources:
    inventory: Path
    hosts: list[Any]  # mailops.inventory.InventoryHost
    relay_rcpt: str = ""
    worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="mailops-hosts"))
    _posture: Posture | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_hosts(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the host-access thread and return (or raise) what it does."""
        return self.worker.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        from ..hosts import connect

        self.worker.submit(connect.close).result()
        self.worker.shutdown(wait=True)

    @property
    def settings(self) -> list[Any]:
        return [h.settings for h in self.hosts]

    @property
    def domains(self) -> list[str]:
        from ..inventory import domains_of

        return sorted(domains_of(self.hosts))

    # ------------------------------------------------------------------ overview

    def posture(self, refresh: bool = False) -> Posture:
        """Every `mailops check` finding, at most POSTURE_TTL seconds old."""
        from ..checks.posture import run_checks
        from ..checks.report import FAIL, OK, WARN

        with self._lock:
            cached = self._posture
        if cached and not refresh and cached.age < POSTURE_TTL:
            return cached
        findings = self.on_hosts(run_checks, str(self.inventory), self.hosts, (),
                                 relay_rcpt=self.relay_rcpt)
        grouped: dict[str, list[Any]] = {}
        for f in findings:
            grouped.setdefault(f.subject, []).append(f)
        rank = {OK: 0, WARN: 1, FAIL: 2}
        subjects = [(s, max((f.status for f in fs), key=rank.__getitem__), fs)
                    for s, fs in grouped.items()]
        posture = Posture(dt.datetime.now(dt.UTC), subjects)
        with self._lock:
            self._posture = posture
        return posture

    def dkim_keys(self) -> list[tuple[str, list[tuple[Any, str, str]]]]:
        """(domain, [(key, next step, when)]) from the keystore, as `mailops dkim status`."""
        from ..dkim.keystore import Keystore, utc_now
        from ..dkim.report import next_step

        now = utc_now()
        out = []
        for path in dict.fromkeys(s.keystore for s in self.settings):
            ks = Keystore(path)
            mine = {d.name for s in self.settings if s.keystore == path for d in s.domains}
            for d in sorted(mine):
                out.append((d, [(k, *next_step(k, now)) for k in ks.keys(d)]))
        return out

    def dns_plan(self) -> list[Any]:
        """`mailops dns plan`: each zone's plan (read from its provider, nothing written)."""
        from ..dkim.plan import known_selectors, published_keys
        from ..dns.plan import make_plan

        s = self.settings
        return make_plan(s, published_keys(s), (), known_selectors(s))

    # ------------------------------------------------------------------ bounces, queue

    def _each_host(self, op: str, **params: Any) -> list[dict]:
        from ..cli.bounces import run_on_host

        def run() -> list[dict]:
            return [{"host": h.name, **row} for h in self.hosts
                    for row in run_on_host(h, op, **params)]

        return self.on_hosts(run)

    def bounces(self, limit: int = 200) -> list[dict]:
        rows = self._each_host("bounces", since=None, limit=limit)
        return sorted(rows, key=lambda r: r.get("received_at") or "", reverse=True)

    def suppressed(self) -> list[dict]:
        return self._each_host("suppression-list")

    def unsuppress(self, address: str) -> list[tuple[str, bool]]:
        """Lift the suppression on every host, as `mailops suppression remove` does."""
        from ..cli.bounces import run_on_host

        return self.on_hosts(lambda: [(h.name, bool(run_on_host(h, "suppression-remove",
                                                                address=address)))
                                      for h in self.hosts])

    def queue(self) -> list[tuple[str, list[dict], str]]:
        """(host, `postqueue -j` entries, error) per host."""
        from ..checks.relay import host_queue
        from ..hosts.connect import HostError

        def run() -> list[tuple[str, list[dict], str]]:
            out = []
            for h in self.hosts:
                try:
                    out.append((h.name, host_queue(h), ""))
                except HostError as e:
                    out.append((h.name, [], str(e)))
            return out

        return self.on_hosts(run)

    # ------------------------------------------------------------------ delivery log

    def messages(self, **filters: Any) -> list[dict]:
        from ..delivery import fetch

        return self.on_hosts(fetch.messages, self.hosts, **filters)

    def trace(self, ident: str) -> list[dict]:
        from ..delivery import fetch

        return self.on_hosts(fetch.trace, self.hosts, ident)

    def send_test(self, address: str, sender: str | None,
                  on_progress: Callable[[str], None]) -> dict:
        from ..delivery import sendtest

        return self.on_hosts(sendtest.send_test, self.hosts, address, sender=sender,
                             on_progress=on_progress)
