"""The rotation's host side, before it touches any host: the sign-with override, the
algorithm rule, the refusals of deploy_key/destroy_key, the SSH command, MAILOPS_NOW."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailops.checks import milter_probe
from mailops.cli import app
from mailops.dkim.keystore import Keystore
from mailops.hosts import opendkim as hosts_odk
from mailops.hosts import ssh
from mailops.inventory import InventoryHost as MailHost
from mailops.inventory import parse_mail_settings

SIGN_WITH = hosts_odk.SIGN_WITH_ENV


def settings_for(keystore, **domains):
    return parse_mail_settings({
        "hostname": "mx1.example.com",
        "keystore": str(keystore),
        "domains": domains or {"example.com": {}, "example.org": {}},
    })


@pytest.fixture
def ks(tmp_path) -> Keystore:
    return Keystore(tmp_path / "ks")


def pending_visible(ks: Keystore, domain: str = "example.com"):
    k = ks.create_pending(domain, "rsa-2048")
    ks.record(domain, k.selector, "published")
    return ks.record(domain, k.selector, "visible")


# ----------------------------------------------------------------------------- the override


@pytest.mark.parametrize("text", ["example.com", "example.com=", "=s202611a",
                                  "Example.com=s202611a", "example.com=../../etc",
                                  "example.com=s202611a,example.com=s202611b"])
def test_a_malformed_sign_with_value_is_refused_naming_the_variable(text):
    with pytest.raises(hosts_odk.HostKeyError, match=SIGN_WITH):
        hosts_odk.parse_sign_with(text)


def test_without_the_override_every_domain_signs_with_its_active_key(ks):
    s = settings_for(ks.path)
    keys = hosts_odk.signing_keys(s, ks, environ={})
    assert {d: k.state for d, k in keys.items()} == {"example.com": "active",
                                                     "example.org": "active"}


def test_the_override_switches_only_the_named_domain_to_a_published_pending_key(ks):
    s = settings_for(ks.path)
    before = hosts_odk.signing_keys(s, ks, environ={})
    new = pending_visible(ks)
    keys = hosts_odk.signing_keys(s, ks, environ={SIGN_WITH: f"example.com={new.selector}"})
    assert keys["example.com"].selector == new.selector
    assert keys["example.org"].selector == before["example.org"].selector


def test_a_pending_key_not_yet_seen_in_dns_is_never_deployed(ks):
    s = settings_for(ks.path)
    hosts_odk.signing_keys(s, ks, environ={})
    k = ks.create_pending("example.com", "rsa-2048")
    ks.record("example.com", k.selector, "published")
    with pytest.raises(hosts_odk.HostKeyError, match="not yet seen on every authoritative"):
        hosts_odk.signing_keys(s, ks, environ={SIGN_WITH: f"example.com={k.selector}"})


def test_the_override_refuses_a_domain_the_host_does_not_serve_and_an_unknown_selector(ks):
    s = settings_for(ks.path)
    hosts_odk.signing_keys(s, ks, environ={})
    with pytest.raises(hosts_odk.HostKeyError, match="other.net, which host mx1.example.com"):
        hosts_odk.signing_keys(s, ks, environ={SIGN_WITH: "other.net=s202611a"})
    with pytest.raises(hosts_odk.HostKeyError, match="no key with selector 's209901z'"):
        hosts_odk.signing_keys(s, ks, environ={SIGN_WITH: "example.com=s209901z"})


def test_a_host_whose_keys_mix_rsa_and_ed25519_is_refused_because_opendkim_signs_one_algorithm(
        ks):
    s = settings_for(ks.path)
    keys = hosts_odk.signing_keys(s, ks, environ={})
    assert hosts_odk.signature_algorithm(s, keys) == "rsa-sha256"
    ed = ks.create_pending("example.com", "ed25519")
    ks.record("example.com", ed.selector, "published")
    ed = ks.record("example.com", ed.selector, "visible")
    mixed = hosts_odk.signing_keys(s, ks, environ={SIGN_WITH: f"example.com={ed.selector}"})
    with pytest.raises(hosts_odk.HostKeyError, match="expected all RSA or all Ed25519"):
        hosts_odk.signature_algorithm(s, mixed)


# ----------------------------------------------------------------------------- the ports


def test_destroy_key_refuses_a_key_that_may_still_sign_before_contacting_any_host(ks):
    s = settings_for(ks.path)
    active = hosts_odk.signing_keys(s, ks, environ={})["example.com"]
    host = MailHost("mx1", {"ssh_hostname": "192.0.2.1"}, s)  # TEST-NET: never reached
    with pytest.raises(hosts_odk.HostKeyError, match="is active; expected a retiring"):
        hosts_odk.destroy_key([host], "example.com", active)


def test_deploy_key_refuses_a_key_from_another_keystore_before_running_the_deploy(ks, tmp_path):
    s = settings_for(tmp_path / "elsewhere")
    hosts_odk.signing_keys(settings_for(ks.path), ks, environ={})
    new = pending_visible(ks)
    inventory = tmp_path / "inv.py"
    inventory.write_text("")
    host = MailHost("mx1", {"ssh_hostname": "192.0.2.1"}, s)
    with pytest.raises(hosts_odk.HostKeyError, match="reads keystore"):
        hosts_odk.deploy_key([host], "example.com", new, inventory=inventory)
    with pytest.raises(hosts_odk.HostKeyError, match="needs the inventory file"):
        hosts_odk.deploy_key([host], "example.com", new)


def test_the_ssh_command_comes_from_the_inventory_host_data(ks):
    s = settings_for(ks.path)
    host = MailHost("mx1.example.com", {
        "ssh_hostname": "10.0.0.5", "ssh_user": "admin", "ssh_port": 2222,
        "ssh_key": "/keys/id", "ssh_known_hosts_file": "/keys/known",
        "ssh_strict_host_key_checking": "yes", "_sudo": True}, s)
    cmd = ssh.ssh_command(host)
    assert cmd[-1] == "admin@10.0.0.5"
    for part in (["-p", "2222"], ["-i", "/keys/id"], ["-o", "UserKnownHostsFile=/keys/known"],
                 ["-o", "StrictHostKeyChecking=yes"], ["-o", "BatchMode=yes"]):
        assert any(cmd[i:i + 2] == part for i in range(len(cmd))), part
    assert ssh.remote_command(host, ["rm", "-f", "a b"]) == "sudo -n -- rm -f 'a b'"


def test_a_connector_host_without_an_ssh_address_is_refused_clearly(ks):
    host = MailHost("@vagrant/mx1", {}, settings_for(ks.path))
    with pytest.raises(ssh.SshError, match="expected an SSH host"):
        ssh.ssh_command(host)


# ----------------------------------------------------------------------------- MAILOPS_NOW


def test_mailops_now_makes_dkim_status_act_at_that_time_and_a_bad_value_names_the_variable(
        ks, monkeypatch):
    ks.ensure_key("example.com")
    monkeypatch.setenv("MAILOPS_NOW", "yesterday")
    bad = CliRunner().invoke(app, ["dkim", "status", "--keystore", str(ks.path)])
    assert bad.exit_code == 2 and "MAILOPS_NOW: found 'yesterday'" in bad.output
    monkeypatch.setenv("MAILOPS_NOW", "2030-01-01T00:00:00Z")
    good = CliRunner().invoke(app, ["dkim", "status", "--keystore", str(ks.path)])
    assert good.exit_code == 0 and "example.com" in good.output


def test_the_milter_probe_needs_nothing_but_the_python_standard_library():
    # It is piped into the host's bare python3: any other import would fail there.
    tree = ast.parse(Path(milter_probe.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
