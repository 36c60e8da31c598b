"""Pebble, Debian's ACME (RFC 8555) test CA, on the lab's bridge address.

`lab up` starts it so that the ACME mode of the deploy runs for real: certbot on
mx1 orders certificates from it and proves control of each name with DNS-01
(RFC 8555 §8.4) through the lab BIND — Pebble asks that BIND
(``-dnsserver <gateway>:53``) for the ``_acme-challenge`` TXT records, so no
port 80 is involved, as in production.

- Its own HTTPS listener uses a certificate from a small CA the lab makes here
  (`<state>/pebble/tls/ca.pem`): the inventory hands that file to the deploy as
  ``tls.acme_ca_bundle`` so certbot on mx1 trusts the ACME server.
- Pebble makes a new root for the certificates it issues every time it starts.
  `start` fetches it from the management endpoint (``/roots/0``) into
  `<state>/pebble/root.pem` and appends it (and its listener's CA) to the lab's trust anchors
  (`<state>/tls/ca.pem`, which tests and `remote` trust), so clients verify
  ACME-issued certificates exactly as they verify the lab CA's.
- ``PEBBLE_VA_NOSLEEP=1``: no random validation delay; ``PEBBLE_WFE_NONCEREJECT=0``:
  no deliberately rejected nonces — the lab tests the deploy, not the client's
  retry logic.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from pathlib import Path

from . import config, pki
from .proc import start_daemon, wait_until


def directory_url() -> str:
    return f"https://{config.GATEWAY}:{config.PEBBLE_PORT}/dir"


def _management(path: str, cafile: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(cafile))
    url = f"https://{config.GATEWAY}:{config.PEBBLE_MANAGEMENT_PORT}{path}"
    with urllib.request.urlopen(url, context=ctx, timeout=2) as r:  # noqa: S310 - lab only
        return r.read()


def start(root: Path) -> int:
    d = root / "pebble"
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    pki.make_ca_and_cert(d / "tls", ["pebble.lab"], [config.GATEWAY], "mailops lab Pebble CA")
    conf = d / "pebble-config.json"
    conf.write_text(json.dumps({"pebble": {
        "listenAddress": f"{config.GATEWAY}:{config.PEBBLE_PORT}",
        "managementListenAddress": f"{config.GATEWAY}:{config.PEBBLE_MANAGEMENT_PORT}",
        "certificate": str(d / "tls" / "fullchain.pem"),
        "privateKey": str(d / "tls" / "privkey.pem"),
        # HTTP-01/TLS-ALPN-01 are never used (DNS-01 only); ports where nothing listens.
        "httpPort": 5002,
        "tlsPort": 5001,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}, indent=2))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    pid = start_daemon(["pebble", "-config", str(conf), "-dnsserver", f"{config.GATEWAY}:53"],
                       d / "daemon.pid", d / "pebble.log", env=env)
    cafile = d / "tls" / "ca.pem"
    root_pem = wait_until(lambda: _management("/roots/0", cafile), 20,
                          f"Pebble on {config.GATEWAY}:{config.PEBBLE_MANAGEMENT_PORT} "
                          f"(log: {d / 'pebble.log'})")
    (d / "root.pem").write_bytes(root_pem)
    anchors = root / "tls" / "ca.pem"
    if anchors.exists():
        # Pebble's issuing root, and the CA behind its listener, which also signs the
        # lab relay's certificate: whoever trusts the lab trusts what it serves.
        with open(anchors, "ab") as f:
            f.write(root_pem + cafile.read_bytes())
    return pid


def ca_bundle(root: Path) -> Path:
    """The CA that signed Pebble's own HTTPS listener (what certbot must trust)."""
    return root / "pebble" / "tls" / "ca.pem"


def issuing_root(root: Path) -> Path:
    """The root Pebble signs this run's certificates with."""
    return root / "pebble" / "root.pem"
