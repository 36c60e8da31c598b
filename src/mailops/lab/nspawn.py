"""The nspawn backend: lab machines as systemd-nspawn containers (the default; CI's).

Each machine boots from overlays over the cached trees (lab/image.py), configured
by writing into its file system before it boots (lab/machines.py).
"""

from __future__ import annotations

from pathlib import Path

from . import config, image, machines, relay, remote
from .proc import alive, run


def start(root: Path, release: str, base: Path, remote_layer: Path, pubkey: str,
          names: tuple[str, ...], log=print) -> list[str]:
    """Boot the machines `names`; return their known_hosts lines."""
    known_hosts = []
    for m in config.MACHINES:
        if m.name not in names:
            continue
        lowers = [base] if m.name == "mx1" else [remote_layer, base]
        if m.name == "relay":
            lowers = [image.relay_tree(release, base, log), base]
        fs = machines.mount_overlay(root, m.name, lowers)
        machines.configure(root, m, fs, pubkey)
        run(["ssh-keygen", "-A", "-f", str(fs)])  # fresh host keys for this run
        if m.name == "remote":
            remote.configure(root, m, fs, lambda argv, fs=fs: run(["chroot", str(fs), *argv]))
        if m.name == "relay":
            relay.configure(root, m, fs)
        hostkey = " ".join((fs / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2])
        known_hosts.append(f"{m.address},{m.fqdn} {hostkey}")
        log(f"booting {m.name} ({m.fqdn}, {m.address})")
        machines.boot(root, m, fs)
    return known_hosts


def running(root: Path, name: str) -> bool:
    pidfile = machines.machine_dir(root, name) / "nspawn.pid"
    return pidfile.exists() and alive(int(pidfile.read_text() or 0))
