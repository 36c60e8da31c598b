"""apt-cacher-ng on the bridge address: lab hosts install packages through it.

Lab hosts have no route off the bridge; apt inside them goes through this
proxy, which fetches from Debian's mirror and keeps the packages in the cache
directory, so a repeated deploy downloads nothing. Debian's default config
remaps Debian URLs to a mirror list and answers `503 Host not found` here, so
the lab runs it with a config of its own that has no `Remap-` lines: a plain
caching proxy.
"""

from __future__ import annotations

import socket
from pathlib import Path

from . import config
from .proc import start_daemon, wait_until


def start(root: Path) -> int:
    d = root / "apt-cacher-ng"
    d.mkdir(parents=True, exist_ok=True)
    # One cache per lab: two apt-cacher-ng processes must not write the same directory.
    cache = config.cache_dir() / f"apt-cacher-ng-{config.INDEX}"
    cache.mkdir(parents=True, exist_ok=True)
    (d / "acng.conf").write_text(
        f"CacheDir: {cache}\n"
        f"LogDir: {d}\n"
        f"Port: {config.APT_PROXY_PORT}\n"
        f"BindAddress: {config.GATEWAY}\n"
        f"PidFile: {d}/acng.pid\n"
        f"SocketPath: {d}/socket\n"
        "ForeGround: 1\n"
        "ExThreshold: 4\n"
        # Only the Debian archive; anything else is refused rather than proxied.
        "PassThroughPattern: ^$\n"
    )
    pid = start_daemon(["apt-cacher-ng", "-c", str(d)], d / "daemon.pid", d / "daemon.log")
    wait_until(_listening, 20, f"apt-cacher-ng on {config.GATEWAY}:{config.APT_PROXY_PORT}")
    return pid


def _listening() -> bool:
    with socket.create_connection((config.GATEWAY, config.APT_PROXY_PORT), timeout=0.5):
        return True


def apt_proxy_conf() -> str:
    return f'Acquire::http::Proxy "http://{config.GATEWAY}:{config.APT_PROXY_PORT}";\n'
