"""`mailops rotate-dkim`, `mailops dkim status` and `mailops dkim retire` end to end
on a real inventory file and keystore (ports faked where DNS and hosts would be)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailops.cli import app
from mailops.dkim import ports as ports_mod
from mailops.dkim.keystore import Keystore

INVENTORY = """
mail = [
    ("mx1.example.net", {{
        "ssh_hostname": "127.0.0.1",
        "mailops": {{
            "hostname": "mx1.example.net",
            "keystore": {keystore!r},
            "domains": {{
                "example.com": {{}},
                "example.org": {{"dkim": {{"algorithm": "ed25519"}}}},
            }},
        }},
    }}),
]
"""


@pytest.fixture
def inv(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "inv.py"
    path.write_text(INVENTORY.format(keystore=str(tmp_path / "ks")))
    monkeypatch.delenv("MAILOPS_INVENTORY", raising=False)
    monkeypatch.delenv("MAILOPS_KEYSTORE", raising=False)
    return path


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _tree(path: Path) -> dict[str, bytes]:
    if not path.exists():
        return {}
    return {str(p): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


class Ports:
    """DNS and one host in memory; every record is instantly on every server."""

    def __init__(self):
        self.dns, self.signing, self.calls = {}, {}, []

    def publish(self, domain, records):
        self.calls.append("publish")
        for n in [n for n in self.dns if n.endswith("._domainkey." + domain)]:
            del self.dns[n]
        self.dns.update({r.name: r.value for r in records})

    def wait_visible(self, domain, name, value, timeout):
        self.calls.append("wait_visible")
        return self.dns.get(name) == value

    def deploy(self, domain, key):
        self.calls.append("deploy")
        self.signing[domain] = key.selector

    def probe(self, domain, key):
        self.calls.append("probe")
        return self.signing[domain] == key.selector

    def destroy_on_hosts(self, domain, key):
        self.calls.append("destroy_on_hosts")


def test_rotate_dkim_dry_run_prints_the_plan_per_domain_and_changes_nothing(inv, tmp_path):
    Keystore(tmp_path / "ks").ensure_key("example.com", "rsa-2048")
    before = _tree(tmp_path / "ks")
    result = run("rotate-dkim", "-i", inv, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "example.com: DRY RUN" in result.output
    assert "would generate a new ed25519 key" in result.output  # example.org
    assert "would make s" in result.output
    assert "2 domain(s): 2 ok, 0 failed" in result.output
    assert _tree(tmp_path / "ks") == before


def test_rotate_dkim_refuses_clearly_while_the_real_ports_do_not_exist(inv, tmp_path, monkeypatch):
    monkeypatch.setattr(ports_mod, "_resolve", lambda port: None)
    result = run("rotate-dkim", "-i", inv, "example.com")
    assert result.exit_code == 1
    assert "not available yet" in result.output
    assert "mailops.dkim.steps.deploy_key" in result.output
    assert "Nothing was generated" in result.output
    assert Keystore(tmp_path / "ks").keys("example.com") == []


def test_rotate_dkim_with_working_ports_rotates_each_named_domain_and_says_so(
    inv, tmp_path, monkeypatch
):
    fake = Ports()
    monkeypatch.setattr(ports_mod, "default_ports", lambda hosts, settings, inventory=None: fake)
    result = run("rotate-dkim", "-i", inv, "example.com", "example.org")
    assert result.exit_code == 0, result.output
    assert "example.com: ROTATED" in result.output and "example.org: ROTATED" in result.output
    ks = Keystore(tmp_path / "ks")
    assert ks.signing_key("example.org").algorithm == "ed25519"
    status = run("dkim", "status", "-i", inv)
    assert status.exit_code == 0, status.output
    assert "example.com" in status.output and "active" in status.output
    # Retirement planning needs only the keystore.
    retire = run("dkim", "retire", "-i", inv, "--dry-run")
    assert retire.exit_code == 0 and "no key is due" in retire.output


def test_a_failed_domain_makes_rotate_dkim_exit_non_zero(inv, monkeypatch):
    fake = Ports()
    fake.probe = lambda domain, key: False
    monkeypatch.setattr(ports_mod, "default_ports", lambda hosts, settings, inventory=None: fake)
    result = run("rotate-dkim", "-i", inv, "example.com")
    assert result.exit_code == 1
    assert "example.com: FAILED — PROBE FAILED" in result.output


def test_dkim_status_works_from_the_keystore_alone(tmp_path):
    ks = Keystore(tmp_path / "ks")
    ks.ensure_key("example.net", "ed25519")
    result = run("dkim", "status", "--keystore", tmp_path / "ks", "-i", tmp_path / "missing.py")
    assert result.exit_code == 0, result.output
    assert "example.net" in result.output and "s20" in result.output and "active" in result.output


def test_an_unknown_domain_is_named_with_the_known_ones(inv):
    result = run("rotate-dkim", "-i", inv, "--dry-run", "example.net")
    assert result.exit_code == 2
    assert "example.net: not a domain of" in result.output
    assert "example.com, example.org" in result.output


def test_a_bad_margin_is_refused_before_anything_runs(inv):
    result = run("rotate-dkim", "-i", inv, "--dry-run", "--margin", "-1d")
    assert result.exit_code == 2 and "--margin" in result.output


def test_default_ports_names_only_the_pieces_that_are_missing(monkeypatch):
    real = ports_mod._resolve
    monkeypatch.setattr(ports_mod, "_resolve",
                        lambda port: None if port in ("deploy", "probe") else real(port))
    with pytest.raises(ports_mod.PortsUnavailable) as e:
        ports_mod.default_ports([], None)
    text = str(e.value)
    assert "deploy: not available yet" in text and "probe: not available yet" in text
    assert "publish:" not in text and "wait_visible:" not in text


def test_the_real_publish_port_applies_only_the_dkim_changes_of_the_dns_plan(monkeypatch):
    from mailops.dns import providers
    from mailops.dns.changes import RRset
    from mailops.inventory import InventoryHost as MailHost
    from mailops.inventory import parse_mail_settings

    applied = []

    class Provider:
        notes: list[str] = []

        def __init__(self, config, domain, env=None):
            pass

        def read(self, names, subtrees=()):
            # An empty zone (the full plan would create MX, SPF, DMARC, …) that then
            # serves what was applied, as the apply's read-back expects.
            return [RRset(c.name, c.type, c.ttl_after, c.after) for c in applied]

        def effective_ttl(self, ttl):
            return ttl

        def apply(self, changes):
            applied.extend(changes)

    monkeypatch.setattr(providers, "get_provider", Provider)
    settings = parse_mail_settings({
        "hostname": "mx1.example.net",
        "keystore": "/nonexistent/mailops-test-keystore",
        "domains": {"example.com": {"dns": {"provider": "rfc2136", "server": "127.0.0.1"}}},
    })
    monkeypatch.setattr(ports_mod, "_resolve", lambda port: (lambda *a: None))
    ports = ports_mod.default_ports([MailHost("mx1", {}, settings)], settings)
    monkeypatch.setattr("mailops.dkim.plan.known_selectors", lambda hosts: {})
    record = ports_mod.DkimRecord("s202611a._domainkey.example.com",
                                  "v=DKIM1; k=ed25519; p=" + "A" * 43 + "=", "s202611a")
    ports.publish("example.com", [record])
    assert [(c.action, c.name, c.after) for c in applied] == [
        ("create", record.name, (record.value,))
    ]


def test_retirement_planning_works_from_the_keystore_alone(tmp_path):
    ks = Keystore(tmp_path / "ks")
    ks.ensure_key("example.net", "ed25519")
    result = run("dkim", "retire", "--dry-run", "--keystore", tmp_path / "ks",
                 "-i", tmp_path / "missing.py")
    assert result.exit_code == 0, result.output
    assert "example.net: DRY RUN" in result.output and "no key is due" in result.output


def test_dkim_rotate_starts_a_new_domains_signing_with_the_rotations_steps(inv, tmp_path,
                                                                           monkeypatch):
    # `mailops dkim rotate` and `mailops rotate-dkim` are one command; on a domain without
    # a key, its first key takes every step a rotation takes, publish before deploy.
    dry = run("dkim", "rotate", "-i", inv, "--dry-run", "example.com")
    assert dry.exit_code == 0, dry.output
    steps = [line.strip() for line in dry.output.splitlines() if line.strip().startswith("-")]
    assert [s.split()[2] for s in steps] == ["generate", "publish", "wait", "deploy", "probe:",
                                              "make"], steps
    assert Keystore(tmp_path / "ks").keys("example.com") == []
    status = run("dkim", "status", "-i", inv, "example.com")
    assert "not DKIM-signed; start signing with `mailops dkim rotate example.com`" in (
        status.output)
    fake = Ports()
    monkeypatch.setattr(ports_mod, "default_ports", lambda hosts, settings, inventory=None: fake)
    result = run("dkim", "rotate", "-i", inv, "example.com")
    assert result.exit_code == 0, result.output
    assert fake.calls == ["publish", "wait_visible", "deploy", "probe"]
    assert "is active (the domain had no active key before)" in result.output
