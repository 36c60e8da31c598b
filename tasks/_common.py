"""Shared pieces of the service tasks: the package set, the templates folder, local scratch
files, services enabled and running."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import weakref
from pathlib import Path

from pyinfra import host
from pyinfra.api import operation
from pyinfra.api.operation import OperationMeta
from pyinfra.context import ctx_host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, server

from mailops.services.render import TEMPLATES_DIR

from . import _snapshot as snapshot

TEMPLATES = TEMPLATES_DIR

# Everything the mail host runs, installed by ONE apt operation so that each service
# task can run on its own and in any order (Dovecot's sockets live in Postfix's spool
# and belong to the postfix user; Postfix needs OpenDKIM's group).
MAIL_PACKAGES = [
    "postfix",
    "postfix-sqlite",  # sqlite: tables (the bounce suppression list)
    "dovecot-core",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "dovecot-sieve",  # Pigeonhole: spam into Junk, IMAPSieve learning (tasks/sieve.py)
    "opendkim",
    "opendkim-tools",
    "openssl",
    "ca-certificates",
]


PRESEED = ("echo 'postfix postfix/main_mailer_type select No configuration'"
           " | debconf-set-selections")


# Host -> the packages installed when the deploy was planned: ONE `dpkg` fact per host
# instead of one per service task (tasks run the package step each, to stand alone).
_PLANNED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def installed_at_plan() -> set[str]:
    """Packages installed when this deploy began (nothing removes them meanwhile)."""
    this = ctx_host.get()  # the Host itself, not pyinfra's context proxy
    if this not in _PLANNED:
        _PLANNED[this] = set(host.get_fact(DebPackages))
    return _PLANNED[this]


def install_mail_packages() -> OperationMeta | None:
    """Pre-seed debconf for Postfix, then install the mail packages (idempotent)."""
    # Without this, postfix's postinst asks (or, non-interactively, writes an "Internet
    # site" main.cf we would then fight). "No configuration" leaves /etc/postfix to us.
    # Fact-checked twice: when the deploy is planned and again when it runs (an earlier
    # task of the same deploy may have installed postfix in between).
    def postfix_missing() -> bool:
        return "postfix" not in host.get_fact(DebPackages)

    if "postfix" not in installed_at_plan():
        server.shell(
            name="Pre-seed debconf: postfix/main_mailer_type = No configuration",
            commands=[PRESEED],
            _if=postfix_missing,
        )
    return ensure_packages("Install the mail packages (Postfix, Dovecot, OpenDKIM)",
                           MAIL_PACKAGES, no_recommends=False)


def ensure_packages(name: str, packages: list[str], *,
                    no_recommends: bool = True) -> OperationMeta | None:
    """apt.packages that refreshes the package lists only when something is missing,
    and is left out (None) when every package was installed when the deploy began.

    With plain `update=True, cache_time=...` a converged host would report a change
    (apt-get update) on every deploy run after the cache time: not a no-op.
    """
    missing = [p for p in packages if p not in installed_at_plan()]
    if not missing:
        host.noop(f"{name}: installed")
        return None
    return apt.packages(
        name=name,
        packages=packages,
        update=True,
        cache_time=3600,
        no_recommends=no_recommends,
    )


_scratch: Path | None = None


def local_secret(content: str, label: str) -> str:
    """Write rendered secret content to a private local file: see :func:`scratch_file`."""
    return scratch_file(content.encode(), label)


def scratch_file(data: bytes, label: str) -> str:
    """Write data to a private local file (0600 in a 0700 dir); return its path.

    The path is content-addressed (different hosts, different content, different file)
    and lives until the pyinfra process exits: operations are evaluated again at
    execution time and need the file then.
    """
    global _scratch
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="mailops-secrets-"))  # mode 0700
        atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
    path = _scratch / f"{label}-{hashlib.sha256(data).hexdigest()[:16]}"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return str(path)


def enabled_and_running(name: str, service: str) -> OperationMeta:
    """systemd.service(running=True, enabled=True), answered from the one-pass host
    snapshot (tasks._snapshot) instead of two facts of its own."""
    snapshot.register(units=[service])
    return _enabled_and_running(name=name, service=service)


@operation()
def _enabled_and_running(service: str):
    unit = snapshot.unit_name(service)
    active, enabled = snapshot.current(units=[unit])["units"].get(unit, ("", ""))
    # systemctl(1) is-enabled states that need no `enable`.
    if enabled not in ("enabled", "enabled-runtime", "static", "alias", "indirect",
                       "generated"):
        yield f"systemctl enable {unit}"
    if active != "active":
        yield f"systemctl start {unit}"
    if active == "active" and enabled in ("enabled", "enabled-runtime", "static", "alias",
                                          "indirect", "generated"):
        host.noop(f"{unit} is enabled and running")
