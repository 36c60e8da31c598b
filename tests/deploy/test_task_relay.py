"""tasks/relay.py: the relay credentials are uploaded as secrets from the environment, a
missing one stops the deploy naming it, and a relay that left the inventory loses its file."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import DeployError

from mailops.inventory import parse_mail_settings
from tasks import relay

SETTINGS = parse_mail_settings({
    "hostname": "mx1.example.test",
    "relay": {"host": "email-smtp.eu-west-1.amazonaws.com", "spf_include": "amazonses.com"},
    "domains": {"example.test": {},
                "tenant2.test": {"relay": {"host": "smtp.postmarkapp.com", "port": 465,
                                           "username_env": "PM_USER",
                                           "password_env": "PM_PASS"}}},
})
ENV = {"MAILOPS_RELAY_USER": "AKIAEXAMPLE", "MAILOPS_RELAY_PASSWORD": "ses-Secret-1",
       "PM_USER": "pm-token", "PM_PASS": "pm-Secret-2"}


@pytest.fixture
def env(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def test_each_relay_gets_its_credentials_as_a_root_only_secret(run_task, env):
    run = run_task(relay.configure, SETTINGS)
    ses = run.upload("/etc/postfix/relay/mailops-relay-1")
    assert ses == "[email-smtp.eu-west-1.amazonaws.com]:587 AKIAEXAMPLE:ses-Secret-1\n"
    assert run.upload("/etc/postfix/relay/mailops-relay-2") == \
        "[smtp.postmarkapp.com]:465 pm-token:pm-Secret-2\n"
    commands = "\n".join(run.commands() + run.names())
    staged = run.op("Relay credentials")
    assert staged.modes["/etc/postfix/relay/mailops-relay-1"] == "600 root:root"
    assert staged.modes["/etc/postfix/relay/mailops-relay-2"] == "600 root:root"
    assert "install -d -m 700 -o root -g root /etc/postfix/relay" in commands
    for secret in ("ses-Secret-1", "pm-Secret-2"):
        assert secret not in commands
    assert "@tenant2.test\tmailops-relay-2:[smtp.postmarkapp.com]:465" in \
        run.upload("/etc/postfix/maps/relay_senders")


def test_a_missing_variable_stops_before_any_operation_naming_it(monkeypatch, env):
    monkeypatch.delenv("PM_PASS")
    with pytest.raises(DeployError) as e:
        relay.require_credentials(SETTINGS)
    assert "mailops.domains.tenant2.test.relay.password_env" in str(e.value)
    assert "$PM_PASS" in str(e.value) and "ses-Secret-1" not in str(e.value)


def test_a_relay_no_longer_in_the_inventory_loses_its_credentials(run_task, env):
    only_ses = parse_mail_settings({"hostname": "mx1.example.test",
                                    "relay": {"host": "email-smtp.eu-west-1.amazonaws.com"},
                                    "domains": {"example.test": {}}})
    stale = "/etc/postfix/relay/mailops-relay-2"
    # The folder is listed in the deploy's one pass (tasks._snapshot).
    listed = f"/etc/postfix/relay/mailops-relay-1\n{stale}\n"
    run = run_task(relay.configure, only_ses, facts={
        "HostState": {"files": {}, "units": {}, "outputs": {relay.LISTED: listed}}})
    assert run.op("Remove credentials of relays").commands == [
        "rm -f /etc/postfix/relay/mailops-relay-2"]
