"""The rotation's host steps: switch the hosts' OpenDKIM to a key, remove retired keys.

**deploy_key** never writes a KeyTable, SigningTable or key file itself. It runs
the real deploy (``pyinfra -y <inventory> deploy.py --limit <host>…``, the same
command an operator runs) with one override in pyinfra's own data::

    --data mailops_dkim_sign_with=example.com=s202611b

which the signing plan (:func:`mailops.dkim.plan.signing_plan`, computed once by
``deploy.py``) reads as ``host.data`` to choose the key the domain signs with. It
must be the active key or a pending key already seen on every authoritative name
server (publish before signing). So the files a rotation leaves on a host are
byte-for-byte what a deploy renders, and the deploy's own gates (``opendkim -n``,
reload only when tables or keys changed) apply. The deploy converges the whole
host: whatever else the inventory says now is applied too, exactly as
`pyinfra deploy.py` would.

Keys are only ever added by a deploy: the previous (now retiring) key file
stays on the host, unused, until **destroy_key** removes it after its record
was withdrawn. destroy_key removes that one file over SSH and nothing else, and
refuses while the host's KeyTable still names it (removing a key OpenDKIM is
configured to sign with would make it fail every message).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..hosts import ssh
from ..inventory import is_domain
from ..services import opendkim as mh
from ..services.render import REPO_ROOT
from .keystore import RETIRED, RETIRING, Key
from .plan import SIGN_WITH_DATA, format_sign_with
from .selectors import is_selector

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost

DEPLOY_FILE = REPO_ROOT / "deploy.py"
DEPLOY_TIMEOUT = 1800  # seconds; a first deploy installs packages, a key switch takes ~10 s
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class HostKeyError(RuntimeError):
    """Switching or removing a key on the hosts failed or was refused; says why."""


# --------------------------------------------------------------------------- the ports


def _hosts_or_fail(hosts: list[MailHost], domain: str) -> list[MailHost]:
    if not is_domain(domain):
        raise HostKeyError(f"found domain {domain!r}; expected a lower-case domain name")
    if not hosts:
        raise HostKeyError(f"{domain}: no host in the inventory serves this domain; nothing to "
                           "switch or clean")
    return hosts


def _same_keystore(host: MailHost, key: Key) -> None:
    # The deploy reads the keystore the inventory names; the key must come from it.
    where = key.private_key_path.parent.parent if key.private_key_path else None
    want = host.settings.keystore.expanduser()
    if where is None or where.resolve() != want.resolve():
        raise HostKeyError(
            f"{key.domain} {key.selector}: the key is in keystore {where} but the deploy of "
            f"host {host.name} reads keystore {want}; expected the same — run `mailops "
            "dkim rotate` without --keystore (or with the inventory's keystore)"
        )


def pyinfra_command() -> list[str]:
    beside = Path(sys.executable).with_name("pyinfra")
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "pyinfra_cli"]


def deploy_key(hosts: list[MailHost], domain: str, key: Key | None, *,
               inventory: str | Path | None = None) -> None:
    """Make every host of ``hosts`` sign ``domain`` with ``key`` — through the real deploy.

    Runs ``pyinfra -y <inventory> deploy.py --limit <each host> --data
    mailops_dkim_sign_with=<domain>=<selector>``: the key file is uploaded (0600
    opendkim, content never shown), the KeyTable/SigningTable re-rendered,
    ``opendkim -n`` checks them and OpenDKIM reloads. ``key=None`` runs the plain
    deploy (the domain signs with its active key, or not at all if it has none): how
    a failed first key is switched off again. Raises HostKeyError with the tail of
    pyinfra's output if the deploy fails; nothing here prints key bytes.
    """
    hosts = _hosts_or_fail(hosts, domain)
    if key is not None and key.domain != domain:
        raise HostKeyError(f"key {key.selector} belongs to {key.domain}, not {domain}")
    if inventory is None:
        raise HostKeyError("deploying a DKIM key needs the inventory file (the CLI's -i) to "
                           "run the deploy with")
    inventory = Path(inventory).resolve()
    if not inventory.is_file():
        raise HostKeyError(f"inventory {inventory}: no such file")
    if not DEPLOY_FILE.is_file():
        raise HostKeyError(f"{DEPLOY_FILE}: not found; deploy_key runs the mailops deploy "
                           "from a checkout of the repository")
    if key is not None:
        for h in hosts:
            _same_keystore(h, key)
    cmd = [*pyinfra_command(), "-y", str(inventory), str(DEPLOY_FILE)]
    for h in hosts:
        cmd += ["--limit", h.name]
    if key is not None:
        cmd += ["--data", f"{SIGN_WITH_DATA}={format_sign_with({domain: key.selector})}"]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=DEPLOY_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise HostKeyError(f"the deploy to {', '.join(h.name for h in hosts)} did not finish "
                           f"within {DEPLOY_TIMEOUT}s") from None
    if proc.returncode != 0:
        tail = _ANSI.sub("", proc.stdout + proc.stderr).strip()[-3000:]
        what = f"switches {domain} to {key.selector}" if key else f"restores {domain}'s signing"
        raise HostKeyError(
            f"the deploy that {what} failed on {', '.join(h.name for h in hosts)} (exit "
            f"{proc.returncode}); the hosts keep signing with whatever they had. Command: "
            f"{shlex.join(cmd)}\n{tail}"
        )


# Runs on the host: refuse while the KeyTable names the key, else remove it (idempotent).
_DESTROY = r"""
set -eu
key=$1 table=$2
if [ -f "$table" ] && grep -qF -- "$key" "$table"; then
  echo "still named in $table" >&2
  exit 3
fi
rm -f -- "$key"
"""


def destroy_key(hosts: list[MailHost], domain: str, key: Key, *,
                inventory: str | Path | None = None) -> None:
    """Remove ``key``'s private key file from every host; succeed if it is already gone.

    Only a retiring or retired key may be removed (its record is withdrawn first by
    the rotation), and only while no host's KeyTable still uses it.
    """
    del inventory  # SSH data comes from the host data itself
    hosts = _hosts_or_fail(hosts, domain)
    if key.domain != domain or not is_selector(key.selector):
        raise HostKeyError(f"key {key.selector!r} of {key.domain}: not a key of {domain}")
    if key.state not in (RETIRING, RETIRED):
        raise HostKeyError(
            f"{domain} {key.selector} is {key.state}; expected a retiring or retired key — a "
            "key that may still sign is never removed from the hosts"
        )
    path = mh.DkimKey(domain, key.selector).host_path
    table = f"{mh.OPENDKIM_DIR}/KeyTable"
    failures = []
    for h in hosts:
        result = ssh.run(h, ["sh", "-c", _DESTROY, "sh", path, table], check=False)
        if result.returncode == 3:
            failures.append(
                f"host {h.name}: {table} still names {path}; the host may still sign with "
                f"{key.selector}. Run the deploy (`pyinfra <inventory> deploy.py`) so it signs "
                "with the active key, then `mailops dkim retire` again"
            )
        elif result.returncode != 0:
            err = result.stderr.decode("utf-8", "replace").strip()[-500:]
            failures.append(f"host {h.name}: removing {path} failed (exit "
                            f"{result.returncode}): {err}")
    if failures:
        raise HostKeyError("; ".join(failures))
