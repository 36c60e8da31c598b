"""The deploy renders each release's own Dovecot configuration, and refuses the rest."""

from __future__ import annotations

import pytest
from debian_facts import debian
from test_task_postfix_dovecot import HASH, SETTINGS

from mailops.services import dovecot as dovecot_svc
from mailops.services.release import UnsupportedRelease
from tasks import dovecot

DEBIAN_13 = {"LinuxDistribution": debian(13, "trixie")}


def test_debian_13_gets_a_dovecot_2_4_configuration_and_passwd_file(run_task):
    run = run_task(dovecot.configure, SETTINGS, facts=DEBIAN_13)
    settings = [line.strip() for line in run.upload(dovecot_svc.DOVECOT_CONF).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    # 2.4 refuses a file whose first setting is not its version (doc.dovecot.org).
    assert settings[0] == "dovecot_config_version = 2.4.0"
    assert "passwd_file_path = /etc/dovecot/users" in settings
    assert "mail_driver = maildir" in settings
    assert not any(s.startswith(("mail_location", "disable_plaintext_auth", "ssl_cert "))
                   for s in settings)
    users = run.upload(dovecot_svc.DOVECOT_USERS).splitlines()
    assert f"alice@example.test:{HASH}::::::userdb_quota_storage_size=1073741824B" in users
    # Postfix's private/ exists before Dovecot (restarted after it) puts its sockets there:
    # the staged dovecot.conf operation creates it.
    conf_op = run.op(f"Render {dovecot_svc.DOVECOT_CONF}")
    assert any("install -d" in c and "/var/spool/postfix/private" in c
               for c in conf_op.commands)
    names = run.names()
    assert names.index(conf_op.name) < names.index(
        "Dovecot | Restart Dovecot (dovecot.conf changed)")


def test_debian_12_keeps_its_dovecot_2_3_configuration(run_task):
    conf = run_task(dovecot.configure, SETTINGS).upload(dovecot_svc.DOVECOT_CONF)
    assert "mail_location = maildir:~/Maildir" in conf
    assert "dovecot_config_version" not in conf


def test_an_unsupported_release_stops_the_task_before_any_operation(run_task):
    with pytest.raises(UnsupportedRelease, match="found Debian GNU/Linux 11 \\(bullseye\\)"):
        run_task(dovecot.configure, SETTINGS,
                 facts={"LinuxDistribution": debian(11, "bullseye")})
