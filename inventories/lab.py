"""The lab inventory: `mx1` in the local lab that `mailops lab up` brings up.

Everything host-specific (address, SSH key, known host keys, the lab CA's
certificate, mailbox password hashes) comes from the lab's state directory;
nothing secret is in this file. Compare with inventories/prod.py.
"""

import os

from mailops.inventory import check_here
from mailops.lab.config import LabState

_lab = LabState.load()
_GATEWAY = _lab.info["dns"]["server"]  # the bridge address of this machine


def _mailbox(address, quota=None):
    box = {"password_hash": _lab.password_hash(address)}
    if quota:
        box["quota"] = quota
    return box


# TLS: "acme" (default) — certbot on mx1 gets the certificate from the lab's Pebble
# through DNS-01 against the lab BIND, as in production; "files" — the lab CA's
# certificate, uploaded (MAILOPS_LAB_TLS=files: no ACME server involved).
_TLS_MODE = os.environ.get("MAILOPS_LAB_TLS", "acme")
if _TLS_MODE == "acme":
    _TLS = {
        "mode": "acme",
        "acme_server": _lab.info["acme"]["directory"],
        "acme_ca_bundle": _lab.info["acme"]["ca_bundle"],
        "acme_propagation_seconds": 1,  # one primary, no secondaries to wait for
    }
else:
    _TLS = {
        "mode": "files",
        "cert_file": str(_lab.root / "tls" / "fullchain.pem"),
        "key_file": str(_lab.root / "tls" / "privkey.pem"),
    }

# MTA-STS enforce: `remote` (postfix-mta-sts-resolver) then delivers to mx1 only over
# verified TLS (RFC 8461 §5).
_MTA_STS = {"mode": "enforce", "max_age": "1d"}

_LAB_ZONES = [*_lab.info["dns"]["zones"], _lab.info["dns"].get(
    "reverse_zone", ".".join(reversed(_lab.address("mx1").split(".")[:3])) + ".in-addr.arpa")]

_RFC2136 = {"provider": "rfc2136", "server": _lab.info["dns"]["server"],
            "tsig_env": "MAILOPS_TSIG"}
# An operator exports the TSIG secret (never written in an inventory); the lab's is a
# throwaway key of this lab, so the inventory hands it to whichever command loads it
# (deploy, `mailops dns`, `rotate-dkim`) — nothing to export. An exported value wins.
os.environ.setdefault("MAILOPS_TSIG", ":".join(_lab.tsig))

MAILOPS = {
    "hostname": "mx1.example.test",
    "ipv4": [_lab.address("mx1")],
    "tls": _TLS,
    # `mailops check` looks mx1 up in this zone (a lab-only blocklist on the lab BIND).
    "blocklists": ["dnsbl.remote.test"],
    "keystore": str(_lab.root / "keystore"),
    "mynetworks": ["127.0.0.0/8"],
    # The lab BIND is the only DNS there is: no root to resolve from.
    "resolvers": [_lab.info["dns"]["server"]],
    # ... for `mailops` on this machine too: the lab zones are not delegated from any
    # root, so `check`, `dns wait` and `rotate-dkim` ask the lab BIND itself.
    "dns_servers": [f"{_lab.info['dns']['server']}:53"],
    # `mailops check` verifies mx1's certificates and MTA-STS policy against the lab
    # CA and Pebble's roots, not this machine's trust store.
    "trust_anchors": str(_lab.ca_cert),
    # The host's own resolver (unbound) forwards to the lab BIND; the lab zones are not
    # DNSSEC-signed, so they are not validated.
    "resolver": {"forwarders": [_lab.info["dns"]["server"]], "insecure": _LAB_ZONES},
    # Inbound filtering with the production defaults, except a short greylisting delay
    # (remote retries every 5-10 s) so a greylisted test message arrives within seconds,
    # and a lab-only DNS blocklist on the lab BIND (the tests list addresses in it).
    # This machine (the lab bridge's gateway) is the operator's and the tests' own SMTP
    # client: allowed past postscreen and greylisting like a partner relay would be, so
    # protocol tests see Postfix's own replies. `remote` gets the full treatment.
    "inbound": {"greylist_delay": 10, "dnsbl": ["dnsbl.remote.test=127.0.0.[2..11]*3"],
                "allow": [_GATEWAY]},
    "domains": {
        "example.test": {
            "dns": _RFC2136,
            "mta_sts": _MTA_STS,
            "mailboxes": {
                "alice": _mailbox("alice@example.test"),
                "bob": _mailbox("bob@example.test"),
                "tiny": _mailbox("tiny@example.test", quota="200K"),
            },
            "aliases": {
                "postmaster": ["alice@example.test"],
                "sales": ["alice@example.test", "bob@example.test"],
            },
        },
        "tenant2.test": {
            "dns": _RFC2136,
            "mta_sts": _MTA_STS,
            "mailboxes": {"carol": _mailbox("carol@tenant2.test")},
            "aliases": {"postmaster": ["carol@tenant2.test"]},
            "catch_all": "carol@tenant2.test",
        },
    },
}


# Relay: direct delivery by default (most lab tests expect it). MAILOPS_LAB_RELAY=1 sends
# through the lab's smarthost `relay` (Exim, SASL over TLS): example.test through the
# top-level relay on 587, tenant2.test through its own account on 465. The credentials
# are the operator's to export (tests read them from the lab state), never written here.
if os.environ.get("MAILOPS_LAB_RELAY") == "1":
    _relay = _lab.info["relay"]
    MAILOPS["relay"] = {"host": _relay["fqdn"], "port": 587,
                        "username_env": "MAILOPS_RELAY_USER",
                        "password_env": "MAILOPS_RELAY_PASSWORD",
                        "spf_include": _relay["spf_include"]}
    MAILOPS["domains"]["tenant2.test"]["relay"] = {
        "host": _relay["fqdn"], "port": 465,
        "username_env": "MAILOPS_RELAY_TENANT2_USER",
        "password_env": "MAILOPS_RELAY_TENANT2_PASSWORD",
        "spf_include": _relay["spf_include"]}


mail_servers = [
    (
        "mx1.example.test",
        {
            "ssh_hostname": _lab.address("mx1"),
            "ssh_user": "root",
            "ssh_key": str(_lab.ssh_key),
            "ssh_known_hosts_file": str(_lab.known_hosts),
            "ssh_strict_host_key_checking": "yes",
            "mailops": MAILOPS,
        },
    )
]

# Every rule checked now, as pyinfra reads this file: a bad value stops the run before
# it connects to anything, and the deploy and `mailops` reuse this result.
check_here(globals())
