"""The lab's smarthost: `relay`, a stock Debian Exim that mx1 may send through.

It plays the paid relay an operator signs up with: it accepts mail only from a
client that authenticated with SASL (RFC 4954) inside TLS — 587 with STARTTLS
(RFC 3207) and 465 with implicit TLS (RFC 8314 §3.3) — and forwards it to the
recipients' MX (`remote`). A different MTA from mx1's Postfix, so the tests see
the protocol, not Postfix agreeing with itself.

- Its certificate is issued for relay.remote.test by the CA mx1 is told to trust
  (the one behind Pebble's own listener, which the lab inventory hands the deploy
  as ``tls.acme_ca_bundle``): mx1 verifies it against its system trust store.
- Two accounts, one per lab tenant, with random passwords made at `lab up` and
  kept 0600 in the state directory (``relay/accounts.json``); tests export them
  as the variables the inventory names, as an operator would.
- ``/etc/exim4/refused-senders``: envelope senders the relay refuses at MAIL FROM
  (550), for tests of a relay that refuses a sender.
- ``_spf.relay.remote.test`` (lab/bind.py) is the SPF include the relay documents.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from . import config, pebble, pki
from .proc import run
from .templates import render

SPF_INCLUDE = "_spf.relay.remote.test"
ACCOUNTS = ("example", "tenant2")  # one login per lab tenant
PORTS = (587, 465)
EXIM_DIR = "etc/exim4"


def accounts_file(root: Path) -> Path:
    return root / "relay" / "accounts.json"


def configure(root: Path, m: config.Machine, fs: Path) -> None:
    d = root / "relay"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    accounts = {f"mx1-{name}": secrets.token_urlsafe(18) for name in ACCOUNTS}
    path = accounts_file(root)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(accounts, f)
    pki.issue(pebble.ca_bundle(root).parent, d / "tls", [m.fqdn], [m.address])

    exim = fs / EXIM_DIR
    (exim / "exim4.conf").write_text(render("relay-exim4.conf.j2", fqdn=m.fqdn, ports=PORTS))
    private = {
        "relay-passwd": "".join(f"{user}: {pw}\n" for user, pw in accounts.items()),
        "relay.crt": (d / "tls" / "fullchain.pem").read_text(),
        "relay.key": (d / "tls" / "privkey.pem").read_text(),
        "refused-senders": "",
    }
    for name, text in private.items():
        target = exim / name
        target.touch(mode=0o640)
        target.write_text(text)
        run(["chroot", str(fs), "chown", "root:Debian-exim", f"/{EXIM_DIR}/{name}"])


def info(root: Path) -> dict:
    m = config.machine("relay")
    return {"fqdn": m.fqdn, "address": m.address, "ports": list(PORTS),
            "spf_include": SPF_INCLUDE, "accounts": str(accounts_file(root))}
