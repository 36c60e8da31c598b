"""TLS from ACME (Pebble, DNS-01), MTA-STS served and enforced, and `mailops check`.

One shared deploy (the session's `deployed`/`lab_dns`); each provoked failure is
undone before its test ends, with the fix `mailops check` itself names.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import dns.query
import dns.tsigkeyring
import dns.update
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from labtools import REPO, on
from mailclients import MX1, inject_at_remote, new_message

from mailops.dns import mta_sts
from mailops.lab import config

pytestmark = pytest.mark.lab

MAILOPS = str(Path(sys.executable).with_name("mailops"))
PORTS = ((465, "mx1.example.test"), (993, "mx1.example.test"), (443, "mta-sts.example.test"),
         (443, "mta-sts.tenant2.test"))
POLICY = "/etc/mailops/mta-sts/{}.txt"


# --------------------------------------------------------------------------- helpers


def served_serial(lab, port: int, name: str) -> tuple[int, str]:
    """(serial, issuer CN) of the certificate a verifying client gets on that port."""
    ctx = ssl.create_default_context(cafile=str(lab.ca_cert))
    with socket.create_connection((MX1, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return cert.serial_number, issuer


def main_pids(*services: str) -> list[str]:
    return on("mx1", "for s in " + " ".join(services)
              + "; do systemctl show -p MainPID --value $s; done").stdout.split()


def check(lab, lab_env, *args: str) -> tuple[int, dict]:
    """`mailops check --json` as a monitoring system runs it, against the lab's DNS."""
    # No exports: the inventory names the lab's DNS (dns_servers) and CA (trust_anchors).
    r = subprocess.run([MAILOPS, "check", "-i", "inventories/lab.py", "--json",
                        "--relay-probe-to", "postmaster@remote.test", *args],
                       cwd=REPO, env=lab_env, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.returncode, json.loads(r.stdout)


def finding(report: dict, subject: str, check_name: str) -> dict:
    for f in report["findings"]:
        if f["subject"] == subject and f["check"] == check_name:
            return f
    raise AssertionError(f"no {check_name} finding for {subject}: {report}")


def dns_update(lab, zone: str, name: str, rdtype: str, *values: str) -> None:
    """Replace (or with no values delete) one RRset on the lab BIND, as a provider would."""
    key_name, algorithm, secret = lab.tsig
    upd = dns.update.UpdateMessage(zone, keyring=dns.tsigkeyring.from_text({key_name: secret}),
                                   keyalgorithm=algorithm)
    if values:
        upd.replace(name + ".", 60, rdtype, *values)
    else:
        upd.delete(name + ".", rdtype)
    assert dns.query.tcp(upd, config.GATEWAY, timeout=5).rcode() == 0


def dns_apply(lab_env) -> None:
    r = subprocess.run([MAILOPS, "dns", "apply", "--yes", "-i", "inventories/lab.py"],
                       cwd=REPO, env=lab_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def remote_log(since: str) -> str:
    return on("remote", f"journalctl -q -o cat --since '{since}' -u postfix@- -u postfix "
              "-u postfix-mta-sts-resolver").stdout


def now_on(machine: str) -> str:
    return on(machine, "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()


# --------------------------------------------------------------------------- ACME


def test_pebble_issued_one_certificate_that_submission_imap_and_the_policy_server_present(
        lab, deployed):
    served = {(port, name): served_serial(lab, port, name) for port, name in PORTS}
    assert len({serial for serial, _ in served.values()}) == 1, served
    assert all(issuer.startswith("Pebble") for _, issuer in served.values()), served
    # Issued through DNS-01 (no port 80 anywhere): certbot's renewal config says so.
    conf = on("mx1", "cat /etc/letsencrypt/renewal/mailops.conf").stdout
    assert "authenticator = dns-rfc2136" in conf
    assert on("mx1", "systemctl is-enabled certbot.timer").stdout.strip() == "enabled"
    assert on("mx1", "ss -Hltn 'sport = :80'").stdout.strip() == ""


def test_a_forced_renewal_is_served_everywhere_without_a_restart(lab, deployed):
    before = {p: served_serial(lab, *p)[0] for p in PORTS}
    pids = main_pids("postfix", "dovecot", "nginx")
    # --no-random-sleep-on-renew: without a TTY certbot waits up to 8 minutes first.
    on("mx1", "certbot renew --force-renewal --no-random-sleep-on-renew --quiet")

    def renewed():
        now = {p: served_serial(lab, *p)[0] for p in PORTS}
        return now if all(now[p] != before[p] for p in PORTS) else None

    after = wait_for(renewed, 30, "every port to serve the renewed certificate")
    assert len(set(after.values())) == 1, after
    assert main_pids("postfix", "dovecot", "nginx") == pids  # reloaded, not restarted


# --------------------------------------------------------------------------- MTA-STS


def test_remote_enforcing_mta_sts_delivers_to_mx1_over_verified_tls(lab, lab_dns):
    for domain in ("example.test", "tenant2.test"):
        answer = on("remote", f"postmap -q {domain} socketmap:inet:127.0.0.1:8461:postfix"
                    ).stdout
        assert answer.startswith("secure match=mx1.example.test"), (domain, answer)
    since = now_on("remote")
    msg, token = new_message("sink@remote.test", "carol@tenant2.test")
    inject_at_remote(msg, "sink@remote.test", ["carol@tenant2.test"])
    log = wait_for(lambda: (lambda t: t if "status=sent" in t else None)(remote_log(since)),
                   60, "remote to deliver to mx1")
    assert "Verified TLS connection established to mx1.example.test" in log, log


def test_remote_defers_mail_when_the_policy_names_another_mx(lab, lab_dns, lab_env):
    path = POLICY.format("tenant2.test")
    original = (lab.rootfs("mx1") / path.lstrip("/")).read_bytes()
    wrong = mta_sts.policy_text("enforce", ["mx9.elsewhere.test"], 86400)
    since = now_on("remote")
    try:
        (lab.rootfs("mx1") / path.lstrip("/")).write_text(wrong)
        dns_update(lab, "tenant2.test", "_mta-sts.tenant2.test", "TXT",
                   f'"{mta_sts.sts_txt(wrong)}"')
        # remote's resolver reuses a policy younger than cache_grace (1 s in the lab)
        # without checking the id; afterwards it sees the new id and refetches — once its
        # DNS client asks again: Debian 13's c-ares keeps answers for their TTL.
        time.sleep(2)
        fresh_remote_resolver()
        wait_for(lambda: on("remote", f"postmap -q tenant2.test {REMOTE_RESOLVER}",
                            check=False).stdout.startswith("secure match=mx9.elsewhere.test"),
                 30, "remote's resolver to answer with the new policy")
        msg, token = new_message("sink@remote.test", "carol@tenant2.test")
        inject_at_remote(msg, "sink@remote.test", ["carol@tenant2.test"])
        log = wait_for(lambda: (lambda t: t if "status=deferred" in t else None)(
            remote_log(since)), 60, "remote to defer the message")
        assert "carol@tenant2.test" in log
        queue = on("remote", "postqueue -j").stdout
        assert "carol@tenant2.test" in queue
    finally:
        (lab.rootfs("mx1") / path.lstrip("/")).write_bytes(original)
        dns_apply(lab_env)
        on("remote", "postsuper -d ALL deferred", check=False)
        fresh_remote_resolver()  # forget the wrong policy and its record


REMOTE_RESOLVER = "socketmap:inet:127.0.0.1:8461:postfix"


def fresh_remote_resolver() -> None:
    """Restart remote's MTA-STS resolver: its policy cache and its DNS client's cache
    (c-ares >= 1.23, Debian 13, caches answers for their TTL) start empty."""
    on("remote", "systemctl restart postfix-mta-sts-resolver")
    wait_for(lambda: "LISTEN" in on("remote", "ss -Hltn 'sport = :8461'").stdout, 30,
             "remote's MTA-STS resolver to listen again")


# --------------------------------------------------------------------------- mailops check


def test_check_reports_every_line_ok_on_the_deployed_lab(lab, lab_dns, lab_env):
    code, report = check(lab, lab_env)
    bad = [f for f in report["findings"] if f["status"] != "ok"]
    assert code == 0 and report["ok"] and not bad, json.dumps(bad, indent=1)
    checks = {f["check"] for f in report["findings"]}
    assert {"MX", "SPF", "DKIM records", "DKIM signing", "DMARC", "MTA-STS record",
            "MTA-STS policy", "TLS-RPT", "reverse DNS", "TLS certificate on 25",
            "TLS certificate on 465", "TLS certificate on 587", "TLS certificate on 993",
            "open relay", "blocklist dnsbl.remote.test", "mail queue",
            "DNSBL dnsbl.remote.test through the host's resolver"} <= checks
    assert any(c.startswith("disk /") for c in checks), checks


def test_check_reports_a_dnsbl_that_refuses_the_hosts_resolver(lab, lab_dns, lab_env):
    """A list answering its "query refused" code (Spamhaus: 127.255.255.254) for the
    RFC 5782 test entry protects nothing: `mailops check` fails that line, naming it."""
    entry = "2.0.0.127.dnsbl.remote.test"
    flush = f"unbound-control flush {entry}"
    dns_update(lab, "remote.test", entry, "A", "127.255.255.254")
    try:
        on("mx1", flush)
        code, report = check(lab, lab_env)
        f = finding(report, "host mx1.example.test",
                    "DNSBL dnsbl.remote.test through the host's resolver")
        assert code == 1 and f["status"] == "fail", f
        assert "127.255.255.254" in f["found"] and "refuses" in f["found"], f
        assert "resolver.forwarders" in f["fix"], f
    finally:
        dns_update(lab, "remote.test", entry, "A", "127.0.0.2")
        on("mx1", flush)
    f = finding(check(lab, lab_env)[1], "host mx1.example.test",
                "DNSBL dnsbl.remote.test through the host's resolver")
    assert f["status"] == "ok", f


def test_check_reports_an_spf_record_that_does_not_authorise_the_host(lab, lab_dns, lab_env):
    dns_update(lab, "example.test", "example.test", "TXT", '"v=spf1 ip4:192.0.2.1 -all"')
    try:
        code, report = check(lab, lab_env, "example.test")
        spf = finding(report, "example.test", "SPF")
        assert code == 1 and spf["status"] == "fail", spf
        assert "does not authorise 10.231." in spf["found"]
        assert "mailops dns apply" in spf["fix"]
    finally:
        dns_apply(lab_env)
    assert finding(check(lab, lab_env, "example.test")[1], "example.test", "SPF")["status"] \
        == "ok"


def test_check_reports_a_missing_dkim_record(lab, lab_dns, lab_env):
    from mailops.dkim.keystore import Keystore

    name = Keystore(lab.root / "keystore").signing_key("tenant2.test").record_name
    dns_update(lab, "tenant2.test", name, "TXT")
    try:
        code, report = check(lab, lab_env, "tenant2.test")
        f = finding(report, "tenant2.test", "DKIM records")
        assert code == 1 and f["status"] == "fail" and "missing" in f["found"], f
        assert "mailops dns apply" in f["fix"]
    finally:
        dns_apply(lab_env)


def test_check_reports_an_expired_certificate_with_its_fix(lab, lab_dns, lab_env):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=100))
            .not_valid_after(now - dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx1.example.test")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    tls_dir = lab.rootfs("mx1") / "etc/mailops/tls"
    (tls_dir / "privkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tls_dir / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    try:
        on("mx1", "systemctl reload postfix dovecot nginx")
        time.sleep(1)
        code, report = check(lab, lab_env)
        f = finding(report, "host mx1.example.test", "TLS certificate on 993")
        assert code == 1 and f["status"] == "fail" and "expired" in f["found"], f
        assert "certbot renew" in f["fix"]
    finally:
        on("mx1", "/etc/letsencrypt/renewal-hooks/deploy/50-mailops")
    assert served_serial(lab, 993, "mx1.example.test")[1].startswith("Pebble")


def test_check_reports_an_open_relay(lab, lab_dns, lab_env):
    on("mx1", "cp -p /etc/postfix/main.cf /root/main.cf.saved && postconf -e "
              f"'mynetworks = 127.0.0.0/8 {config.GATEWAY}/32' && postfix reload")
    try:
        code, report = check(lab, lab_env)
        f = finding(report, "host mx1.example.test", "open relay")
        assert code == 1 and f["status"] == "fail", f
        assert "accepted RCPT TO:<postmaster@remote.test>" in f["found"]
        assert "mynetworks" in f["fix"]
    finally:
        on("mx1", "cp -p /root/main.cf.saved /etc/postfix/main.cf && postfix reload")


def test_check_reports_a_changed_policy_whose_id_was_not_bumped(lab, lab_dns, lab_env):
    path = POLICY.format("example.test")
    original = (lab.rootfs("mx1") / path.lstrip("/")).read_bytes()
    (lab.rootfs("mx1") / path.lstrip("/")).write_text(
        mta_sts.policy_text("testing", ["mx1.example.test"], 86400))
    try:
        code, report = check(lab, lab_env, "example.test")
        f = finding(report, "example.test", "MTA-STS policy")
        assert code == 1 and f["status"] == "fail", f
        assert "id was not bumped" in f["found"]
        assert "deploy.py" in f["fix"] and "mailops dns apply" in f["fix"]
    finally:
        (lab.rootfs("mx1") / path.lstrip("/")).write_bytes(original)


def test_check_fails_a_deleted_mta_sts_cname_and_a_wrong_address_for_the_host(
        lab, lab_dns, lab_env):
    # What `dns plan` publishes is what `check` reads, the mta-sts host and mx1's own
    # address included: delete one, alter the other, as a careless edit at a provider would.
    dns_update(lab, "tenant2.test", "mta-sts.tenant2.test", "CNAME")
    dns_update(lab, "example.test", "mx1.example.test", "A", "192.0.2.99")
    try:
        code, report = check(lab, lab_env)
        cname = finding(report, "tenant2.test", "MTA-STS host")
        assert code == 1 and cname["status"] == "fail", cname
        assert "mta-sts.tenant2.test CNAME missing" in cname["found"]
        assert "mx1.example.test" in cname["expected"] and "RFC 8461" in cname["why"]
        assert "mailops dns apply" in cname["fix"]
        a = finding(report, "host mx1.example.test", "A record")
        assert a["status"] == "fail" and "192.0.2.99" in a["found"], a
        assert MX1 in a["expected"] and "mailops dns apply" in a["fix"]
        assert finding(report, "example.test", "MTA-STS host")["status"] == "ok"
    finally:
        dns_apply(lab_env)
    code, report = check(lab, lab_env)
    assert code == 0, [f for f in report["findings"] if f["status"] != "ok"]
