"""The Vagrant inventory: the `mx1` VM of the Vagrantfile, through pyinfra's @vagrant connector.

Mailbox passwords are made on first use and kept (0600) in .vagrant/mailops/,
like the lab's; the DKIM keystore lives there too. Nothing secret is in git.
"""

from pathlib import Path

from mailops.inventory import check_here
from mailops.lab.config import LabState

_state_dir = Path(__file__).resolve().parent.parent / ".vagrant" / "mailops"
_state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
_creds = LabState(_state_dir)

MAILOPS = {
    "hostname": "mx1.example.test",
    "ipv4": ["192.168.56.10"],
    "tls": {"mode": "self-signed"},
    "keystore": str(_state_dir / "keystore"),
    "domains": {
        "example.test": {
            "mailboxes": {
                "alice": {"password_hash": _creds.password_hash("alice@example.test")},
                "bob": {"password_hash": _creds.password_hash("bob@example.test")},
            },
            "aliases": {"postmaster": ["alice@example.test"]},
        },
        "tenant2.test": {
            "mailboxes": {"carol": {"password_hash": _creds.password_hash("carol@tenant2.test")}},
            "catch_all": "carol@tenant2.test",
        },
    },
}


mail_servers = [("@vagrant/mx1", {"mailops": MAILOPS})]

# Every rule checked now, as pyinfra reads this file: a bad value stops the run before
# it connects to anything, and the deploy and `mailops` reuse this result.
check_here(globals())
