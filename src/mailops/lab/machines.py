"""One lab host: an overlay over a cached tree, booted with systemd-nspawn.

Each host gets a fresh copy-on-write upper layer, its own network namespace
(a veth on the lab bridge), a static address via systemd-networkd, the lab
BIND as its resolver, fresh SSH host keys and the lab's SSH key for root.
`configure` also serves the Vagrant backend, writing into a VM's / over sshfs.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from . import aptcache, config
from .proc import run, start_daemon, wait_until


def machine_dir(root: Path, name: str) -> Path:
    return root / "machines" / name


def mount_overlay(root: Path, name: str, lowers: list[Path]) -> Path:
    d = machine_dir(root, name)
    for sub in ("upper", "work", "merged"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    merged = d / "merged"
    lower = ":".join(str(p) for p in lowers)  # leftmost is the top layer
    run(["mount", "-t", "overlay", f"mailops-lab-{name}", "-o",
         f"lowerdir={lower},upperdir={d / 'upper'},workdir={d / 'work'}", str(merged)])
    return merged


def configure(root: Path, m: config.Machine, fs: Path, pubkey: str) -> None:
    (fs / "etc/hostname").write_text(m.name + "\n")
    (fs / "etc/hosts").write_text(
        f"127.0.0.1 localhost\n::1 localhost ip6-localhost\n{m.address} {m.fqdn} {m.name}\n"
    )
    (fs / "etc/mailname").write_text(m.fqdn + "\n")
    net = fs / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    # Sorts before systemd's own 80-container-host0.network, which would DHCP.
    (net / "10-lab-host0.network").write_text(
        "[Match]\nName=host0\n\n[Network]\n"
        f"Address={m.address}/24\nDNS={config.GATEWAY}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )
    # A lab host is thrown away at `lab down`: no service may hold its shutdown up for
    # systemd's default 90 s (seen on Debian 13: the shutdown outlasted `lab down`'s wait).
    conf = fs / "etc/systemd/system.conf.d"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "50-mailops-lab.conf").write_text("[Manager]\nDefaultTimeoutStopSec=5s\n")
    resolv = fs / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text(f"nameserver {config.GATEWAY}\nsearch example.test\n")
    (fs / "etc/apt/apt.conf.d/01mailops-lab-proxy").write_text(aptcache.apt_proxy_conf())
    ssh = fs / "root/.ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(pubkey)
    (ssh / "authorized_keys").chmod(0o600)


def boot(root: Path, m: config.Machine, fs: Path) -> int:
    d = machine_dir(root, m.name)
    cmd = [
        "systemd-nspawn",
        "--boot",
        f"--directory={fs}",
        f"--machine={config.nspawn_name(m.name)}",
        f"--hostname={m.name}",
        # Without --keep-unit nspawn asks a system bus this machine does not have.
        "--keep-unit",
        "--register=no",
        f"--network-bridge={config.BRIDGE}",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=passive",
    ]
    pid = start_daemon(cmd, d / "nspawn.pid", d / "nspawn.log")
    wait_until(lambda: _ssh_port_open(m.address), 60,
               f"{m.name} to accept SSH on {m.address} (log: {d / 'nspawn.log'})")
    return pid


def _ssh_port_open(address: str) -> bool:
    with socket.create_connection((address, 22), timeout=0.5):
        return True


def unmount_and_remove(root: Path, name: str) -> None:
    d = machine_dir(root, name)
    merged = d / "merged"
    if merged.is_mount():
        run(["umount", str(merged)], check=False)
        if merged.is_mount():
            run(["umount", "-l", str(merged)], check=False)
    shutil.rmtree(d, ignore_errors=True)
