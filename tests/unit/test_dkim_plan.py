"""The signing plan and the rotation's host steps, before anything touches a host: which
key each domain signs with (none before its first key is probed), the sign-with override,
the algorithm rule, the refusals of deploy_key/destroy_key, the SSH command, MAILOPS_NOW."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailops.cli import app
from mailops.dkim import milter as milter_probe
from mailops.dkim import plan as dkim_plan
from mailops.dkim import steps
from mailops.dkim.keystore import Keystore
from mailops.hosts import ssh
from mailops.inventory import InventoryHost as MailHost
from mailops.inventory import parse_mail_settings

SIGN_WITH = dkim_plan.SIGN_WITH_DATA


def signing_keys(s, ks, override=None):
    return dict(dkim_plan.signing_plan(s, ks, override).keys)


def settings_for(keystore, **domains):
    return parse_mail_settings({
        "hostname": "mx1.example.com",
        "keystore": str(keystore),
        "domains": domains or {"example.com": {}, "example.org": {}},
    })


@pytest.fixture
def ks(tmp_path) -> Keystore:
    """A keystore where example.com and example.org have an active key."""
    store = Keystore(tmp_path / "ks")
    for domain in ("example.com", "example.org"):
        store.ensure_key(domain)
    return store


def pending_visible(ks: Keystore, domain: str = "example.com"):
    k = ks.create_pending(domain, "rsa-2048")
    ks.record(domain, k.selector, "published")
    return ks.record(domain, k.selector, "visible")


# ----------------------------------------------------------------------------- the override


@pytest.mark.parametrize("text", ["example.com", "example.com=", "=s202611a",
                                  "Example.com=s202611a", "example.com=../../etc",
                                  "example.com=s202611a,example.com=s202611b"])
def test_a_malformed_sign_with_value_is_refused_naming_the_variable(text):
    with pytest.raises(dkim_plan.SigningPlanError, match=SIGN_WITH):
        dkim_plan.parse_sign_with(text)


def test_without_the_override_every_domain_signs_with_its_active_key(ks):
    s = settings_for(ks.path)
    keys = signing_keys(s, ks)
    assert {d: k.state for d, k in keys.items()} == {"example.com": "active",
                                                     "example.org": "active"}


def test_the_override_switches_only_the_named_domain_to_a_published_pending_key(ks):
    s = settings_for(ks.path)
    before = signing_keys(s, ks)
    new = pending_visible(ks)
    keys = signing_keys(s, ks, f"example.com={new.selector}")
    assert keys["example.com"].selector == new.selector
    assert keys["example.org"].selector == before["example.org"].selector


def test_a_pending_key_not_yet_seen_in_dns_is_never_deployed(ks):
    s = settings_for(ks.path)
    signing_keys(s, ks)
    k = ks.create_pending("example.com", "rsa-2048")
    ks.record("example.com", k.selector, "published")
    with pytest.raises(dkim_plan.SigningPlanError, match="not yet seen on every authoritative"):
        signing_keys(s, ks, f"example.com={k.selector}")


def test_the_override_refuses_a_domain_the_host_does_not_serve_and_an_unknown_selector(ks):
    s = settings_for(ks.path)
    signing_keys(s, ks)
    with pytest.raises(dkim_plan.SigningPlanError, match="other.net, which host mx1.example.com"):
        signing_keys(s, ks, "other.net=s202611a")
    with pytest.raises(dkim_plan.SigningPlanError, match="no key with selector 's209901z'"):
        signing_keys(s, ks, "example.com=s209901z")


def test_a_host_whose_keys_mix_rsa_and_ed25519_is_refused_because_opendkim_signs_one_algorithm(
        ks):
    s = settings_for(ks.path)
    keys = signing_keys(s, ks)
    assert dkim_plan.signature_algorithm(s.hostname, keys) == "rsa-sha256"
    ed = ks.create_pending("example.com", "ed25519")
    ks.record("example.com", ed.selector, "published")
    ed = ks.record("example.com", ed.selector, "visible")
    mixed = {**keys, "example.com": ed}
    with pytest.raises(dkim_plan.SigningPlanError, match="expected all RSA or all Ed25519"):
        dkim_plan.signature_algorithm(s.hostname, mixed)
    with pytest.raises(dkim_plan.SigningPlanError, match="expected all RSA or all Ed25519"):
        dkim_plan.signing_plan(s, ks, f"example.com={ed.selector}")


def _tree(path: Path) -> dict[str, bytes]:
    if not path.exists():
        return {}
    return {str(p): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_domain_without_an_active_key_is_left_unsigned_and_the_plan_names_the_command(ks):
    s = settings_for(ks.path, **{"example.com": {}, "new.example": {}})
    before = _tree(ks.path)
    plan = dkim_plan.signing_plan(s, Keystore(ks.path, create=False))
    assert set(plan.keys) == {"example.com"} and plan.unsigned == ("new.example",)
    assert plan.keyless == ("new.example",)
    [notice] = plan.notices("inventories/prod.py")
    assert "new.example: not DKIM-signed on mx1.example.com" in notice
    assert "`mailops dkim rotate new.example -i inventories/prod.py`" in notice
    assert _tree(ks.path) == before  # planning never writes the keystore


def test_a_first_key_signs_only_when_a_rotation_names_it_after_dns_serves_it(ks):
    s = settings_for(ks.path, **{"example.com": {}, "new.example": {}})
    first = ks.create_pending("new.example", "rsa-2048")
    plan = dkim_plan.signing_plan(s, ks)
    assert plan.unsigned == ("new.example",) and plan.keyless == ()  # on its way
    ks.record("new.example", first.selector, "published")
    with pytest.raises(dkim_plan.SigningPlanError, match="not yet seen on every authoritative"):
        dkim_plan.signing_plan(s, ks, f"new.example={first.selector}")
    ks.record("new.example", first.selector, "visible")
    # pyinfra's --data hands JSON over decoded: a mapping works as well as the text form.
    for override in (f"new.example={first.selector}", {"new.example": first.selector}):
        plan = dkim_plan.signing_plan(s, ks, override)
        assert plan.selectors["new.example"] == first.selector and plan.unsigned == ()


def test_a_missing_keystore_is_not_created_by_planning(tmp_path):
    path = tmp_path / "nowhere" / "ks"
    plan = dkim_plan.signing_plan(settings_for(path))
    assert plan.keys == {} and plan.unsigned == ("example.com", "example.org")
    assert not path.exists() and not path.parent.exists()


def test_the_dns_layer_gets_the_published_keys_and_every_selector_ever_made_as_data(ks):
    s = settings_for(ks.path)
    pending = ks.create_pending("example.com", "rsa-2048")
    published = dkim_plan.published_keys([s])
    assert [sel for sel, _ in published["example.com"]] == [
        ks.signing_key("example.com").selector, pending.selector]
    assert dkim_plan.known_selectors([s])["example.com"] == {
        k.selector for k in ks.keys("example.com")}


# ----------------------------------------------------------------------------- the ports


def test_destroy_key_refuses_a_key_that_may_still_sign_before_contacting_any_host(ks):
    s = settings_for(ks.path)
    active = signing_keys(s, ks)["example.com"]
    host = MailHost("mx1", {"ssh_hostname": "192.0.2.1"}, s)  # TEST-NET: never reached
    with pytest.raises(steps.HostKeyError, match="is active; expected a retiring"):
        steps.destroy_key([host], "example.com", active)


def test_deploy_key_refuses_a_key_from_another_keystore_before_running_the_deploy(ks, tmp_path):
    s = settings_for(tmp_path / "elsewhere")
    signing_keys(settings_for(ks.path), ks)
    new = pending_visible(ks)
    inventory = tmp_path / "inv.py"
    inventory.write_text("")
    host = MailHost("mx1", {"ssh_hostname": "192.0.2.1"}, s)
    with pytest.raises(steps.HostKeyError, match="reads keystore"):
        steps.deploy_key([host], "example.com", new, inventory=inventory)
    with pytest.raises(steps.HostKeyError, match="needs the inventory file"):
        steps.deploy_key([host], "example.com", new)


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
