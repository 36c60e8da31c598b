"""The relay (smarthost) configuration, rendered from a relay-enabled inventory, as the
real Postfix and OpenDKIM on this machine read it: no warning, the routes and TLS/SASL
settings the relay needs, the credentials table in the format smtp(8) parses."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mailops.inventory import parse_mail_settings
from mailops.services import opendkim, postfix, relay
from mailops.services.render import render

pytestmark = pytest.mark.skipif(not shutil.which("postconf") or not shutil.which("opendkim"),
                                reason="needs postfix and opendkim (bash .ci/setup)")

SETTINGS = parse_mail_settings({
    "hostname": "mx.example.test",
    "relay": {"host": "email-smtp.eu-west-1.amazonaws.com", "spf_include": "amazonses.com"},
    "domains": {
        "example.test": {},
        "direct.test": {"relay": "direct"},
        "tenant2.test": {"relay": {"host": "smtp.postmarkapp.com", "port": 465,
                                   "username_env": "PM_USER", "password_env": "PM_PASS"}},
    },
})


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    root = tmp_path_factory.mktemp("relay")
    maps = root / "maps"
    maps.mkdir()
    ctx = {**postfix.postfix_context(SETTINGS), "maps_dir": str(maps),
           "relay_sender_map_file": str(maps / "relay_senders")}
    for name in ("main.cf", "master.cf"):
        (root / name).write_text(render(f"postfix/{name}.j2", **ctx))
    for name in (*postfix.MAPS, "relay_senders"):
        (maps / name).write_text(render(f"postfix/{name}.j2", **ctx))
    return root


def postconf(conf, *args: str) -> str:
    p = subprocess.run(["postconf", "-c", str(conf), *args], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return p.stdout


def test_postfix_reads_the_relay_configuration_without_a_warning(conf):
    main = postconf(conf, "-n")
    assert ("default_transport = mailops-relay-1:[email-smtp.eu-west-1.amazonaws.com]:587"
            in main)
    services = postconf(conf, "-P")
    assert "mailops-relay-1/unix/smtp_tls_security_level = secure" in services
    assert "mailops-relay-2/unix/smtp_tls_wrappermode = yes" in services
    assert "mailops-relay-1/unix/smtp_tls_wrappermode" not in services
    assert "mailops-relay-2/unix/soft_bounce = yes" in services


def test_the_sender_map_routes_each_domain_as_the_inventory_says(conf):
    def lookup(key: str) -> str:
        return subprocess.run(["postmap", "-c", str(conf), "-q", key,
                               f"texthash:{conf}/maps/relay_senders"],
                              capture_output=True, text=True).stdout.strip()

    assert lookup("@direct.test") == "smtp"
    assert lookup("@tenant2.test") == "mailops-relay-2:[smtp.postmarkapp.com]:465"
    assert lookup("@example.test") == ""  # default_transport: the top-level relay


def test_the_credentials_table_is_one_line_postfix_reads_by_next_hop(conf, tmp_path):
    route = relay.routes(SETTINGS)[1]
    table = tmp_path / "sasl"
    table.write_text(render("postfix/relay_sasl.j2", nexthop=route.nexthop,
                            username="token-user", password="p@ss word:with colon"))
    got = subprocess.run(["postmap", "-c", str(conf), "-q", route.nexthop, f"texthash:{table}"],
                         capture_output=True, text=True).stdout.strip()
    assert got == "token-user:p@ss word:with colon"


def test_opendkim_accepts_the_omitted_headers(tmp_path):
    ctx = opendkim.opendkim_context(SETTINGS, {}, tables_dir=str(tmp_path))
    conf = tmp_path / "opendkim.conf"
    conf.write_text(render("opendkim/opendkim.conf.j2", **ctx))
    for name in ("KeyTable", "SigningTable", "TrustedHosts", "sender-policy.lua"):
        (tmp_path / name).write_text(render(f"opendkim/{name}.j2", **ctx))
    p = subprocess.run(["opendkim", "-n", "-x", str(conf)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "OmitHeaders\t\t*,+Message-ID,+Date" in conf.read_text()
