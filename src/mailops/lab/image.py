"""The lab's root file systems: debootstrap'd once, cached, keyed on their inputs.

Two read-only trees per Debian release live in the cache: `base` (what a
fresh cloud image of that release has) and `remote` (base plus a stock
Postfix). Each run mounts them
as the lower layer of an overlay with a fresh upper layer, so every run starts
from a clean host and a cold build happens only when an input changes.

The cache key is a hash of everything that shapes a tree: release and suite,
mirror, package list and this module's build recipe version; the directory
name starts with the suite (`trixie-base-<key>`), so a look at the cache shows
which release each tree is. A tree is built in a
temporary directory and renamed into place only when complete, so an
interrupted build never leaves a half tree that looks valid.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from . import config
from .proc import LabError, run

RECIPE_VERSION = 3  # bump when the build steps below change


def _key(release: str, kind: str, packages: tuple[str, ...], parent: str = "") -> str:
    inputs = {
        "kind": kind,
        "release": release,
        "suite": config.suite(release),
        "mirror": config.MIRROR,
        "packages": sorted(packages),
        "parent": parent,
        "recipe": RECIPE_VERSION,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _name(release: str, kind: str) -> str:
    """The cache entry of one tree: `<suite>-<kind>-<key>`."""
    packages = {"base": config.BASE_PACKAGES, "remote": config.REMOTE_PACKAGES,
                "relay": config.RELAY_PACKAGES}[kind]
    key = _key(release, kind, packages,
               parent="" if kind == "base" else _name(release, "base"))
    return f"{config.suite(release)}-{kind}-{key}"


def base_tree(release: str, log=print) -> Path:
    suite = config.suite(release)
    target = config.cache_dir() / _name(release, "base")
    if (target / ".complete").exists():
        return target / "rootfs"
    _clear_partial(target)
    tmp = target.with_name(target.name + ".partial")
    (tmp / "rootfs").mkdir(parents=True)
    debs = config.cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    log(f"building the base Debian {release} ({suite}) tree (cold: ~1-4 min; cached afterwards)")
    started = time.monotonic()
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(config.BASE_PACKAGES)}",
            f"--cache-dir={debs}",
            suite,
            str(tmp / "rootfs"),
            config.MIRROR,
        ]
    )
    _prepare_base(tmp / "rootfs", suite)
    (tmp / ".complete").write_text(f"built in {time.monotonic() - started:.0f}s\n")
    tmp.rename(target)
    return target / "rootfs"


def remote_tree(release: str, base: Path, log=print) -> Path:
    """`remote`'s extra layer: only what installing Postfix adds on top of base."""
    return _layer(release, "remote", config.REMOTE_PACKAGES, base, log)


def relay_tree(release: str, base: Path, log=print) -> Path:
    """`relay`'s extra layer: only what installing Exim adds on top of base."""
    return _layer(release, "relay", config.RELAY_PACKAGES, base, log)


def _layer(release: str, kind: str, packages: tuple[str, ...], base: Path, log=print) -> Path:
    target = config.cache_dir() / _name(release, kind)
    if (target / ".complete").exists():
        return target / "layer"
    _clear_partial(target)
    tmp = target.with_name(target.name + ".partial")
    for d in ("layer", "work", "merged"):
        (tmp / d).mkdir(parents=True)
    log(f"building the {kind} host layer ({', '.join(packages)}; Debian {release})")
    merged = tmp / "merged"
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={base},upperdir={tmp / 'layer'},workdir={tmp / 'work'}", str(merged)])
    try:
        for fs, kind in (("proc", "proc"), ("sys", "sysfs"), ("dev", "devtmpfs")):
            run(["mount", "-t", kind, kind, str(merged / fs)])
        shutil.copy("/etc/resolv.conf", merged / "etc/resolv.conf")
        # "No configuration": the lab writes remote's main.cf itself at `lab up`.
        run(["chroot", str(merged), "debconf-set-selections"],
            input="postfix postfix/main_mailer_type select No configuration\n")
        run(["chroot", str(merged), "apt-get", "update", "-q"])
        run(["chroot", str(merged), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get",
             "install", "-y", "-q", "--no-install-recommends", *packages])
        run(["chroot", str(merged), "apt-get", "clean"])
        (merged / "etc/resolv.conf").unlink()
    finally:
        for fs in ("dev", "sys", "proc", ""):
            run(["umount", "-l", str(merged / fs)], check=False)
    shutil.rmtree(tmp / "work")
    (tmp / "merged").rmdir()
    (tmp / ".complete").write_text("ok\n")
    tmp.rename(target)
    return target / "layer"


def _prepare_base(rootfs: Path, suite: str) -> None:
    """Make the tree boot as a container host: what a cloud image's first boot does."""
    # Host keys are made per machine at `lab up`, never shared through the cache.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/fstab").write_text("")
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "systemd-networkd.service"
    if not link.is_symlink():
        link.symlink_to("/lib/systemd/system/systemd-networkd.service")
    (rootfs / "etc/apt/sources.list").write_text(
        f"deb {config.MIRROR} {suite} main\n"
        f"deb {config.MIRROR} {suite}-updates main\n"
        f"deb {config.SECURITY_MIRROR} {suite}-security main\n"
    )
    run(["chroot", str(rootfs), "apt-get", "clean"])


def _clear_partial(target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        for sub in ("merged/dev", "merged/sys", "merged/proc", "merged"):
            if (partial / sub).is_mount():
                run(["umount", "-l", str(partial / sub)], check=False)
        shutil.rmtree(partial)
    if target.exists() and not (target / ".complete").exists():
        shutil.rmtree(target)


def prune(keep: set[str], log=print) -> None:
    """Remove cached trees no current key uses (old recipe versions, old package lists).

    Only entries named `<suite>-base-*` / `<suite>-remote-*` of a suite the lab knows
    are candidates; the trees of every supported release are kept, so switching
    `--release` back and forth never rebuilds.
    """
    suites = set(config.RELEASES.values())
    with open("/proc/self/mounts") as f:
        mounts = f.read()
    for entry in config.cache_dir().glob("*-*"):
        if str(entry) + "/" in mounts:
            continue  # a lower layer of a lab still running (another MAILOPS_LAB_INDEX)
        parts = entry.name.split("-")
        if (entry.is_dir() and entry.name not in keep and len(parts) >= 3
                and parts[0] in suites and parts[1] in ("base", "remote", "relay")):
            log(f"removing stale cached tree {entry}")
            shutil.rmtree(entry, ignore_errors=True)


def current_keys() -> set[str]:
    return {_name(r, kind) for r in config.RELEASES for kind in ("base", "remote", "relay")}


def ensure_trees(release: str, log=print) -> tuple[Path, Path]:
    if not shutil.which("debootstrap"):
        raise LabError("debootstrap is not installed; run `apt-get install debootstrap "
                       "systemd-container` (or `bash .ci/setup`)")
    base = base_tree(release, log)
    remote = remote_tree(release, base, log)
    relay_tree(release, base, log)  # cached here, so that prune keeps it; world.up asks again
    prune(current_keys(), log)
    return base, remote
