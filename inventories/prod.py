"""Example production inventory — copy it, change the names, keep secrets out.

    pyinfra inventories/prod.py deploy.py          # converge the host(s)
    mailops dns plan -i inventories/prod.py        # what DNS would change
    mailops check -i inventories/prod.py           # the whole posture

What goes here: host names, domains, mailboxes (password HASHES only:
`mailops hash-password` or `doveadm pw -s ARGON2ID`), aliases, policy.
What never goes here: DNS API tokens and TSIG secrets (environment variables
named by `dns.token_env` / `dns.tsig_env`), DKIM private keys (the keystore
directory, default ~/.local/share/mailops/keystore or $MAILOPS_KEYSTORE).

Every key and its default is documented in src/mailops/inventory/model.py; an unknown
key or a bad value stops the run before any host is touched.
"""

from mailops.inventory import check_here

MAILOPS = {
    # The mail host's name: HELO, MX target, certificate name. Its A/AAAA and
    # PTR must match (forward-confirmed reverse DNS, RFC 1912 §2.1).
    "hostname": "mx1.example.com",
    "ipv4": ["203.0.113.25"],
    "ipv6": ["2001:db8::25"],
    "tls": {
        # "files": a certificate you already have (e.g. from your own ACME client).
        # Or "acme": certbot on the host gets one for this name and every
        # mta-sts.<domain> with DNS-01 through the domains' provider — which must then
        # be ONE provider account for all domains (not the mix below):
        #   "tls": {"mode": "acme", "acme_email": "hostmaster@example.com"},
        "mode": "files",
        "cert_file": "/etc/letsencrypt/live/mx1.example.com/fullchain.pem",
        "key_file": "/etc/letsencrypt/live/mx1.example.com/privkey.pem",
    },
    # `mailops check` looks the host's addresses up in these DNS blocklists (mind
    # their terms of use; default: none).
    "blocklists": ["zen.spamhaus.org"],
    # What `mailops` on YOUR machine asks (defaults: the public DNS, the system trust
    # store). Only for a split-horizon/hidden DNS or a private CA, e.g.:
    # "dns_servers": ["192.0.2.53:53"], "trust_anchors": "~/ca/example-root.pem",
    # Port 25 blocked by the provider? Send through a relay (README, "Sending through a
    # relay"); credentials from the environment at deploy time:
    #   "relay": {"host": "email-smtp.eu-west-1.amazonaws.com", "port": 587,
    #             "username_env": "MAILOPS_RELAY_USER",
    #             "password_env": "MAILOPS_RELAY_PASSWORD", "spf_include": "amazonses.com"},
    # The per-message delivery log (`mailops messages`, `trace`): kept 30 days; subjects
    # are personal data and stay out unless turned on.
    "delivery_log": {"retention_days": 30, "subjects": False},
    # Inbound filtering on port 25 (every key optional; these are the defaults except
    # dnsbl, which is empty by default). Spamhaus ZEN with its exact listing codes,
    # weight 3 = refused on its own. Its terms: free only for low-volume, non-commercial
    # use and only through your own resolver (the host's unbound, no forwarders) —
    # https://www.spamhaus.org/blocklists/dnsbl-fair-use-policy/.
    "inbound": {
        "dnsbl": ["zen.spamhaus.org=127.0.0.[2..11]*3"],
        "spam": {"reject": 15, "junk": 6, "greylist": 4},
        "greylisting": True,
        "dmarc_enforce": True,
        # A domain that forwards everything elsewhere: no scoring, no DMARC refusal.
        # "domains": {"lists.example.com": {"filter": False}},
    },
    "message_size_limit": "50M",
    "default_quota": "2G",
    "domains": {
        "example.com": {
            # Cloudflare: token from $CLOUDFLARE_API_TOKEN (DNS:Edit on this zone).
            "dns": {"provider": "cloudflare"},
            "mailboxes": {
                "alice": {"password_hash": "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$REPLACE"
                                           "$REPLACE", "quota": "5G"},
            },
            "aliases": {
                "postmaster": ["alice@example.com"],
                "abuse": ["alice@example.com"],
            },
            "dmarc": {"policy": "quarantine", "rua": ["dmarc-reports@example.com"]},
            "mta_sts": {"mode": "testing"},
        },
        "example.org": {
            # RFC 2136 + TSIG: secret from $MAILOPS_TSIG as name:algorithm:base64secret.
            "dns": {"provider": "rfc2136", "server": "198.51.100.53"},
            "mailboxes": {},
            "aliases": {"postmaster": ["alice@example.com"]},
            "catch_all": "alice@example.com",
        },
    },
}


mail_servers = [
    ("mx1.example.com", {"ssh_user": "root", "mailops": MAILOPS}),
]

# Every rule checked now, as pyinfra reads this file: a bad value stops the run before
# it connects to anything, and the deploy and `mailops` reuse this result.
check_here(globals())
