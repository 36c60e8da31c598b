"""The lab's fixed shape and its on-disk state.

The lab is a small world on this machine: a bridge, an authoritative BIND and
an apt cache on the bridge address, and two Debian hosts (12 or 13, see
`release()`) under systemd-nspawn (`mx1`, the mail host deploys target; `remote`, a stock
Postfix playing "the rest of the internet"). Every address below lives on the
lab's own bridge; nothing else is ever a target.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

# Several labs can run side by side (one per developer session): MAILOPS_LAB_INDEX=N
# gives lab N its own bridge, /24, machine names and state directory.
INDEX = int(os.environ.get("MAILOPS_LAB_INDEX", "0"))
if not 0 <= INDEX <= 99:
    raise ValueError(f"MAILOPS_LAB_INDEX: found {INDEX}; expected a number from 0 to 99")
BRIDGE = f"mailopslab{INDEX}"
SUBNET_PREFIX = f"10.231.{INDEX}"  # a /24 only this lab uses, on its own bridge
GATEWAY = f"{SUBNET_PREFIX}.1"  # the bridge address: BIND and apt-cacher-ng listen here
APT_PROXY_PORT = 3142
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"

# The Debian releases the lab builds, by version: the ones the deploy supports.
# Debian 13 is the current stable release, so it is the default; Debian 12
# (oldstable, LTS) stays for hosts set up earlier and for the upgrade path.
RELEASES = {"12": "bookworm", "13": "trixie"}
DEFAULT_RELEASE = "13"
RELEASE_ENV = "MAILOPS_LAB_RELEASE"


def check_release(value: str) -> str:
    value = str(value).strip()
    if value not in RELEASES:
        raise ValueError(
            f"lab release: found {value!r}; expected one of "
            f"{', '.join(f'{v} ({s})' for v, s in RELEASES.items())}; "
            f"set `--release` or ${RELEASE_ENV} to one of them")
    return value


def release() -> str:
    """The release a new lab is built from: $MAILOPS_LAB_RELEASE, else the default."""
    return check_release(os.environ.get(RELEASE_ENV) or DEFAULT_RELEASE)


def suite(version: str) -> str:
    return RELEASES[check_release(version)]

# Where the lab's machines come from: systemd-nspawn containers (the default, and
# CI's), or Vagrant VMs (libvirt) for mx1 and remote, on the same bridge, beside the
# same BIND, Pebble and apt cache (lab/vagrant.py).
BACKENDS = ("nspawn", "vagrant")
BACKEND_ENV = "MAILOPS_LAB_BACKEND"
# The Vagrant box of each release (Debian's own, on Vagrant Cloud);
# $MAILOPS_LAB_VAGRANT_BOX names another one, e.g. a box built by
# `mailops lab vagrant-box` where Vagrant Cloud is out of reach.
VAGRANT_BOXES = {"12": "debian/bookworm64", "13": "debian/trixie64"}
VAGRANT_BOX_ENV = "MAILOPS_LAB_VAGRANT_BOX"


def backend(value: str | None = None) -> str:
    """The backend a new lab uses: `value`, else $MAILOPS_LAB_BACKEND, else nspawn."""
    value = (value or os.environ.get(BACKEND_ENV) or BACKENDS[0]).strip()
    if value not in BACKENDS:
        raise ValueError(
            f"lab backend: found {value!r}; expected one of {', '.join(BACKENDS)}; "
            f"set `--backend` or ${BACKEND_ENV} to one of them")
    return value


def vagrant_box(version: str) -> str:
    return os.environ.get(VAGRANT_BOX_ENV) or VAGRANT_BOXES[check_release(version)]


# The packages every lab host starts with: the minimum a real cloud image has
# (systemd as PID 1, SSH, Python for the bounce hook, sudo). Anything the mail
# host needs beyond this is the deploy's job.
BASE_PACKAGES = (
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "iproute2",
    "sudo",
    "ca-certificates",
    "netbase",
    "less",
)
# `remote` is a stock Debian Postfix: the DSNs it sends back are real ones. It
# checks what it receives like a real receiver: OpenDKIM in verify mode adds
# Authentication-Results, policyd-spf adds Received-SPF. postfix-mta-sts-resolver
# makes it honour the lab domains' MTA-STS policies (RFC 8461 §5) like a big receiver.
REMOTE_PACKAGES = ("postfix", "bsd-mailx", "opendkim", "postfix-policyd-spf-python",
                   "postfix-mta-sts-resolver")
# `relay`: a smarthost (a stock Debian Exim, a different MTA from mx1's Postfix) that
# accepts mail only after SASL AUTH over TLS on 587 (STARTTLS) and 465 (implicit TLS)
# and forwards it to `remote` (lab/relay.py).
RELAY_PACKAGES = ("exim4-daemon-heavy",)
# Pebble (Debian's ACME test CA) on the bridge address: ACME directory and management.
PEBBLE_PORT = 14000
PEBBLE_MANAGEMENT_PORT = 15000

ZONES = ("example.test", "tenant2.test", "remote.test")


@dataclass(frozen=True)
class Machine:
    name: str  # nspawn machine name and short host name
    fqdn: str
    address: str


MACHINES = (
    Machine("mx1", "mx1.example.test", f"{SUBNET_PREFIX}.10"),
    Machine("remote", "mx.remote.test", f"{SUBNET_PREFIX}.20"),
    Machine("relay", "relay.remote.test", f"{SUBNET_PREFIX}.30"),
)


def machine(name: str) -> Machine:
    for m in MACHINES:
        if m.name == name:
            return m
    raise KeyError(f"no lab machine {name!r}; the lab has {', '.join(m.name for m in MACHINES)}")


def state_dir() -> Path:
    """Per-run state: overlays, keys, BIND data, passwords. Wiped by `lab down`."""
    default = "/var/lib/mailops-lab" + (f"-{INDEX}" if INDEX else "")
    return Path(os.environ.get("MAILOPS_LAB_DIR", default))


def cache_dir() -> Path:
    """Expensive, reusable, keyed artefacts (base trees, .deb cache). Outside the repo."""
    return Path(os.environ.get("MAILOPS_LAB_CACHE", "/var/cache/mailops-lab"))


def nspawn_name(name: str) -> str:
    # Short: nspawn names the host side of the veth "vb-" + the machine name (15 chars max).
    return f"mo{INDEX}-{name}"


class LabNotUp(RuntimeError):
    pass


@dataclass(frozen=True)
class LabState:
    """What `lab up` wrote for pyinfra, the tests and `lab ssh` to find the lab."""

    root: Path

    @classmethod
    def load(cls) -> LabState:
        root = state_dir()
        if not (root / "lab.json").is_file():
            raise LabNotUp(
                f"the lab is not up (no {root / 'lab.json'}); run `mailops lab up` first"
            )
        return cls(root)

    @property
    def info(self) -> dict:
        return json.loads((self.root / "lab.json").read_text())

    @property
    def release(self) -> str:
        """The Debian version the lab's hosts were built from ("12", "13")."""
        return self.info["release"]

    @property
    def backend(self) -> str:
        """Where the lab's machines run: "nspawn" or "vagrant"."""
        return self.info.get("backend", "nspawn")

    @property
    def ssh_key(self) -> Path:
        return self.root / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "ssh" / "known_hosts"

    @property
    def ca_cert(self) -> Path:
        return self.root / "tls" / "ca.pem"

    def address(self, name: str) -> str:
        return machine(name).address

    def rootfs(self, name: str) -> Path:
        """The running machine's file system as seen from this machine (its overlay
        mount under nspawn; an sshfs mount of the VM's / under Vagrant)."""
        return self.root / "machines" / name / "merged"

    def password(self, address: str) -> str:
        return self._credentials(address)["password"]

    def password_hash(self, address: str) -> str:
        return self._credentials(address)["hash"]

    def _credentials(self, address: str) -> dict:
        """A random password per lab mailbox, made on first use, kept 0600 in the state.

        The lab inventory holds only the hash, like a real one; tests read the
        password from here. Nothing of it is ever committed.
        """
        path = self.root / "passwords.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        if address not in known:
            import secrets

            from ..passwords import hash_password

            password = secrets.token_urlsafe(18)
            known[address] = {"password": password, "hash": hash_password(password)}
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(known, f)
            os.replace(tmp, path)
        return known[address]

    @property
    def tsig(self) -> tuple[str, str, str]:
        """(key name, algorithm, base64 secret) of the lab BIND's update key."""
        name, algorithm, secret = (self.root / "named" / "tsig.txt").read_text().split(":")
        return name, algorithm, secret.strip()
