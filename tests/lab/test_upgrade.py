"""A Debian 12 mail host upgraded in place to Debian 13, the Debian way, keeps its mail.

The operator's procedure (README, "Upgrading a host from Debian 12 to 13"), run on
the lab's mx1 exactly as written there: apt sources to trixie, `upgrade
--without-new-pkgs`, then `full-upgrade`, non-interactive, keeping mailops's
configuration files; daemons are not restarted by the packages meanwhile (Dovecot
2.4 cannot read the 2.3 configuration), the re-deploy renders the Debian 13
configuration and starts them. Packages come through the lab's apt cache.

Runs on a Debian 12 lab only (MAILOPS_LAB_RELEASE=12), after every other test but
before the lab is taken down (tests/conftest.py orders marker `upgrade` so): mx1 is
Debian 13 afterwards. Slow — the upgrade downloads and installs a release.
"""

import pytest
from labtools import deploy, on
from mailclients import IMAPS, imap_fetch, inject_at_remote, new_message, received_at_remote, submit

from mailops.lab.world import ssh_run

pytestmark = [pytest.mark.lab, pytest.mark.upgrade]

# The same commands as the README's procedure; the lab's apt proxy is already set.
UPGRADE = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
# Files under ucf(1) (sshd_config, ...) keep the host's version like dpkg conffiles.
export UCF_FORCE_CONFFOLD=1
# No daemon (re)starts while packages change (invoke-rc.d(8), policy-rc.d): mail waits
# in the senders' queues (4xx), and the re-deploy starts each service on its new config.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
sed -i 's/\bbookworm\b/trixie/g' /etc/apt/sources.list
apt-get update -q
APT="apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
$APT upgrade --without-new-pkgs
$APT full-upgrade
rm /usr/sbin/policy-rc.d
# The running sshd (Debian 12) cannot start sessions with Debian 13's binaries: new
# connections — the deploy's — fail until it is restarted (OpenSSH 9.8 split sshd).
systemctl restart ssh
. /etc/os-release
echo "now $VERSION_ID $VERSION_CODENAME"
"""


def _archive(lab, user: str, token: str) -> None:
    """File a message in a folder other than INBOX (Maildir++ `.Archive`)."""
    msg, _ = new_message("someone@remote.test", user)
    msg.replace_header("Subject", f"lab test {token}")
    with IMAPS(lab) as imap:
        imap.login(user, lab.password(user))
        typ, _ = imap.append("Archive", None, None, msg.as_bytes())
        assert typ == "OK"


def _in_folder(lab, user: str, folder: str, token: str) -> bool:
    with IMAPS(lab) as imap:
        imap.login(user, lab.password(user))
        imap.select(folder, readonly=True)
        _, ids = imap.search(None, "SUBJECT", f'"lab test {token}"')
        return bool(ids[0])


@pytest.mark.timeout(2400)
def test_a_debian_12_host_upgraded_to_13_keeps_its_mail_and_mail_flows_again(lab, lab_dns):
    if lab.release != "12":
        pytest.skip("the upgrade starts from Debian 12: run with MAILOPS_LAB_RELEASE=12")
    # Mail kept on Debian 12: one message in INBOX, one filed in a folder.
    kept, kept_token = new_message("someone@remote.test", "alice@example.test")
    inject_at_remote(kept, "someone@remote.test", ["alice@example.test"])
    imap_fetch(lab, "alice@example.test", kept_token)
    _archive(lab, "alice@example.test", archived_token := kept_token + "-archived")
    assert "2.3." in on("mx1", "dovecot --version").stdout

    upgraded = ssh_run(lab, "mx1", UPGRADE, check=False, timeout=1500)
    assert upgraded.returncode == 0, (upgraded.stdout + upgraded.stderr)[-4000:]
    assert "now 13 trixie" in upgraded.stdout
    assert "2.4." in on("mx1", "dovecot --version").stdout

    result = deploy()
    assert result.returncode == 0 and result.errors == 0, result.output[-5000:]
    again = deploy()
    assert again.changed == 0 and again.errors == 0, again.output[-5000:]

    # What was there survived, where it was...
    assert kept_token.encode() in imap_fetch(lab, "alice@example.test", kept_token, timeout=5)
    assert _in_folder(lab, "alice@example.test", "Archive", archived_token)
    # ...and mail flows again, both ways.
    inbound, inbound_token = new_message("someone@remote.test", "alice@example.test")
    inject_at_remote(inbound, "someone@remote.test", ["alice@example.test"])
    imap_fetch(lab, "alice@example.test", inbound_token)
    outbound, outbound_token = new_message("alice@example.test", "someone@remote.test")
    submit(lab, "alice@example.test", outbound)
    got = received_at_remote(lab, outbound_token)
    results = " ".join(str(v) for v in got.get_all("Authentication-Results", []))
    assert "dkim=pass" in results and "header.d=example.test" in results
