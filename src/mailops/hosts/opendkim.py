"""Switch the hosts' OpenDKIM to a DKIM key, and remove retired keys: the rotation's host ports.

**deploy_key** never writes a KeyTable, SigningTable or key file itself. It runs
the real deploy (``pyinfra -y <inventory> deploy.py --limit <host>…``, the same
command an operator runs) with one override in the environment::

    MAILOPS_DKIM_SIGN_WITH=example.com=s202611b[,other.org=s202611a]

which :func:`signing_keys` — called by ``tasks/opendkim.py`` and nowhere else —
reads to choose the key each domain signs with. Without the variable every
domain signs with its ACTIVE key (the normal deploy); with it, the named domain
signs with the named key, which must be the active key or a PENDING key already
seen on every authoritative name server (DESIGN.md convention 6: publish before
signing). So the files a rotation leaves on a host are byte-for-byte what a
deploy renders, and the deploy's own gates (``opendkim -n``, reload only when
tables or keys changed) apply. The deploy converges the whole host: whatever
else the inventory says now is applied too, exactly as `pyinfra deploy.py`
would.

Keys are only ever added by a deploy: the previous (now retiring) key file
stays on the host, unused, until **destroy_key** removes it after its record
was withdrawn. destroy_key removes that one file over SSH and nothing else, and
refuses while the host's KeyTable still names it (removing a key OpenDKIM is
configured to sign with would make it fail every message).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..dkim.keystore import ACTIVE, PENDING, RETIRED, RETIRING, Key, Keystore, KeystoreError
from ..dkim.selectors import is_selector
from ..inventory import MailSettings, is_domain
from ..services import opendkim as mh
from ..services.render import REPO_ROOT
from . import ssh

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost

SIGN_WITH_ENV = "MAILOPS_DKIM_SIGN_WITH"
DEPLOY_FILE = REPO_ROOT / "deploy.py"
DEPLOY_TIMEOUT = 1800  # seconds; a first deploy installs packages, a key switch takes ~10 s
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class HostKeyError(RuntimeError):
    """Switching or removing a key on the hosts failed or was refused; says why."""


# --------------------------------------------------------------------------- the override


def parse_sign_with(text: str) -> dict[str, str]:
    """``"a.com=s202611b,b.org=s202610a"`` -> {"a.com": "s202611b", …}; clear error if bad."""
    out: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        domain, sep, selector = item.partition("=")
        domain, selector = domain.strip(), selector.strip()
        if not sep or not is_domain(domain) or not is_selector(selector):
            raise HostKeyError(
                f"{SIGN_WITH_ENV}: found {item!r}; expected domain=selector pairs separated by "
                "commas, such as 'example.com=s202611b' (set by `mailops rotate-dkim`; unset "
                "it to sign with the active keys)"
            )
        if domain in out and out[domain] != selector:
            raise HostKeyError(f"{SIGN_WITH_ENV}: found {domain} twice ({out[domain]}, "
                               f"{selector}); expected one selector per domain")
        out[domain] = selector
    return out


def format_sign_with(selectors: Mapping[str, str]) -> str:
    return ",".join(f"{d}={s}" for d, s in sorted(selectors.items()))


def signing_keys(settings: MailSettings, keystore: Keystore,
                 environ: Mapping[str, str] | None = None) -> dict[str, Key]:
    """Domain -> the key this host signs the domain's mail with. THE one reader of the override.

    Default: the keystore's active key (created on a domain's very first deploy,
    see Keystore.ensure_key). ``MAILOPS_DKIM_SIGN_WITH`` names another key for a
    domain during a rotation; it is checked here before anything is rendered.
    """
    environ = os.environ if environ is None else environ
    override = parse_sign_with(environ.get(SIGN_WITH_ENV, ""))
    hosted = {d.name for d in settings.domains}
    unknown = sorted(set(override) - hosted)
    if unknown:
        raise HostKeyError(
            f"{SIGN_WITH_ENV}: found {', '.join(unknown)}, which host {settings.hostname} does "
            f"not serve; expected some of {', '.join(sorted(hosted))} — limit the deploy to "
            "the hosts of that domain (--limit) or unset the variable"
        )
    keys: dict[str, Key] = {}
    for d in settings.domains:
        if d.name not in override:
            keys[d.name] = keystore.ensure_key(d.name, d.dkim_algorithm)
            continue
        try:
            k = keystore.key(d.name, override[d.name])
        except KeystoreError as e:
            raise HostKeyError(f"{SIGN_WITH_ENV}: {e}") from None
        if not (k.state == ACTIVE or (k.state == PENDING and k.done("visible"))):
            raise HostKeyError(
                f"{SIGN_WITH_ENV}: {d.name} {k.selector} is {k.state}"
                + (" and not yet seen on every authoritative name server"
                   if k.state == PENDING else "")
                + "; expected the active key, or a pending key whose record every "
                "authoritative server already serves (a key signs only once it is published, "
                f"RFC 6376 §3.6.2) — run `mailops rotate-dkim {d.name}`"
            )
        if k.private_key_path is None or not k.private_key_path.is_file():
            raise HostKeyError(f"{SIGN_WITH_ENV}: {d.name} {k.selector}: its private key file "
                               f"is missing from the keystore {keystore.path}")
        keys[d.name] = k
    return keys


def signature_algorithm(settings: MailSettings, keys: Mapping[str, Key]) -> str:
    """OpenDKIM's one SignatureAlgorithm for the keys this host will actually sign with.

    Checked in the lab (Debian 12, opendkim 2.11.0~beta2-8+deb12u1): the
    ``SignatureAlgorithm`` setting, not the key, decides a signature's a= tag.
    An Ed25519 key under ``rsa-sha256`` makes OpenDKIM tempfail every message
    ("451 4.7.0 resource unavailable"); an RSA key under ``ed25519-sha256``
    yields a signature labelled a=ed25519-sha256 that no verifier accepts. So
    the algorithm follows the deployed keys (during a rotation to another
    algorithm the inventory already says the new one while the active key is
    still the old one), and keys of both families on one host are refused.
    """
    families = {d: ("ed25519" if k.algorithm == "ed25519" else "rsa") for d, k in keys.items()}
    if len(set(families.values())) > 1:
        mixed = ", ".join(f"{d}={keys[d].selector} ({keys[d].algorithm})"
                          for d in sorted(keys))
        raise HostKeyError(
            f"host {settings.hostname}: found DKIM keys {mixed}; expected all RSA or all "
            "Ed25519 — OpenDKIM 2.11 signs with one algorithm per instance "
            "(SignatureAlgorithm). Rotate every domain of this host to the same algorithm "
            "(dkim.algorithm) before deploying."
        )
    return "ed25519-sha256" if "ed25519" in families.values() else "rsa-sha256"


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
            "rotate-dkim` without --keystore (or with the inventory's keystore)"
        )


def pyinfra_command() -> list[str]:
    beside = Path(sys.executable).with_name("pyinfra")
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "pyinfra_cli"]


def deploy_key(hosts: list[MailHost], domain: str, key: Key, *,
               inventory: str | Path | None = None) -> None:
    """Make every host of ``hosts`` sign ``domain`` with ``key`` — through the real deploy.

    Runs ``pyinfra -y <inventory> deploy.py --limit <each host>`` with
    ``MAILOPS_DKIM_SIGN_WITH=<domain>=<selector>``: the key file is uploaded
    (0600 opendkim, content never shown), the KeyTable/SigningTable re-rendered,
    ``opendkim -n`` checks them and OpenDKIM reloads. Raises HostKeyError with the
    tail of pyinfra's output if the deploy fails; nothing here prints key bytes.
    """
    hosts = _hosts_or_fail(hosts, domain)
    if key.domain != domain:
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
    for h in hosts:
        _same_keystore(h, key)
    cmd = [*pyinfra_command(), "-y", str(inventory), str(DEPLOY_FILE)]
    for h in hosts:
        cmd += ["--limit", h.name]
    env = {**os.environ, SIGN_WITH_ENV: format_sign_with({domain: key.selector})}
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=DEPLOY_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise HostKeyError(f"the deploy to {', '.join(h.name for h in hosts)} did not finish "
                           f"within {DEPLOY_TIMEOUT}s") from None
    if proc.returncode != 0:
        tail = _ANSI.sub("", proc.stdout + proc.stderr).strip()[-3000:]
        raise HostKeyError(
            f"the deploy that switches {domain} to {key.selector} failed on "
            f"{', '.join(h.name for h in hosts)} (exit {proc.returncode}); the hosts keep "
            f"signing with whatever they had. Command: {SIGN_WITH_ENV}={env[SIGN_WITH_ENV]} "
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
