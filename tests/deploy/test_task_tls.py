"""tasks/tls.py: certificates by mode; ACME issues only what differs, per certificate."""

from __future__ import annotations

import re

import pytest

from mailops.inventory import SettingsError, parse_mail_settings
from mailops.services import tls as svc
from tasks import tls

DNS = {"provider": "rfc2136", "server": "192.0.2.53"}
TSIG = "mailops:hmac-sha256:c2VjcmV0c2VjcmV0"
SERVER = "https://acme.example.test/dir"


def acme(count: int):
    return parse_mail_settings({
        "hostname": "mx1.example.test",
        "tls": {"mode": "acme", "acme_server": SERVER},
        "domains": {f"tenant{i:03d}.example": {"dns": DNS} for i in range(count)}})


def certbot_names(command: str) -> list[str]:
    return re.findall(r" -d (\S+)", command)


def test_a_fresh_acme_host_gets_one_certbot_run_per_certificate(run_task, monkeypatch):
    monkeypatch.setenv("MAILOPS_TSIG", TSIG)
    s = acme(250)
    run = run_task(tls.configure, s)
    runs = [c for c in run.commands() if c.startswith("certbot certonly")]
    assert [re.search(r"--cert-name (\S+)", c).group(1) for c in runs] == \
        ["mailops", "mailops-2", "mailops-3"]
    assert [len(certbot_names(c)) for c in runs] == [100, 100, 51]
    assert certbot_names(runs[0])[0] == "mx1.example.test"
    assert all("--dns-rfc2136-credentials /etc/letsencrypt/mailops-dns.ini" in c for c in runs)
    # Each new pair is installed next to the others by the deploy hook.
    assert "RENEWED_LINEAGE=/etc/letsencrypt/live/mailops-3 MAILOPS_NO_RELOAD=1 " \
           f"{svc.ACME_DEPLOY_HOOK}" in run.commands()
    hook = run.upload(svc.ACME_DEPLOY_HOOK)
    assert "install_pair /etc/letsencrypt/live/mailops-2 /etc/mailops/tls/mailops-2" in hook
    # The credential file is uploaded as a secret: its value is in no command.
    assert not any("c2VjcmV0c2VjcmV0" in c for c in run.commands())
    assert "dns_rfc2136_secret = c2VjcmV0c2VjcmV0" in run.upload(svc.ACME_CREDENTIALS)


def test_a_certificate_whose_live_names_match_is_not_issued_again(run_task, monkeypatch):
    monkeypatch.setenv("MAILOPS_TSIG", TSIG)
    s = acme(150)
    certs = svc.certificates(s)
    facts = {tls.state_command(c): tls.wanted_state(s, c) for c in certs[:1]}
    facts.update({tls.installed_command(c): "same" for c in certs})
    facts[tls.LINEAGES_COMMAND] = "mailops.conf\nmailops-2.conf\nmailops-7.conf\n"
    run = run_task(tls.configure, s, facts={"Command": facts})
    runs = [c for c in run.commands() if c.startswith("certbot certonly")]
    assert [re.search(r"--cert-name (\S+)", c).group(1) for c in runs] == ["mailops-2"]
    assert "certbot delete --non-interactive --cert-name mailops-7" in run.commands()
    assert not any("--cert-name mailops-2" in c and "delete" in c for c in run.commands())


def test_acme_without_the_credential_anywhere_stops_with_what_to_export(run_task, monkeypatch):
    monkeypatch.delenv("MAILOPS_TSIG", raising=False)
    with pytest.raises(Exception, match=r"found no \$MAILOPS_TSIG in the environment"):
        run_task(tls.configure, acme(1))


def test_files_mode_refuses_a_missing_local_file_before_any_upload(run_task, tmp_path):
    s = parse_mail_settings({"hostname": "mx1.example.test", "domains": {"example.test": {}},
                             "tls": {"mode": "files", "cert_file": str(tmp_path / "no.pem"),
                                     "key_file": str(tmp_path / "no-key.pem")}})
    with pytest.raises(SettingsError, match=r"mailops.tls.cert_file: found '.*no.pem'"):
        run_task(tls.configure, s)


def test_files_mode_uploads_the_key_as_a_secret(run_task, tmp_path):
    (tmp_path / "c.pem").write_text("CERT\n")
    (tmp_path / "k.pem").write_text("PRIVATE KEY\n")
    s = parse_mail_settings({"hostname": "mx1.example.test", "domains": {"example.test": {}},
                             "tls": {"mode": "files", "cert_file": str(tmp_path / "c.pem"),
                                     "key_file": str(tmp_path / "k.pem")}})
    key_op = run_task(tls.configure, s).op("Upload the TLS private key")
    # Created empty 0600 first, then written: the key is never readable by others.
    assert key_op.commands[0] == f"install -m 600 -o root -g root /dev/null {svc.TLS_KEY}"
    assert key_op.uploads[svc.TLS_KEY] == "PRIVATE KEY\n"


def test_self_signed_never_replaces_an_existing_pair(run_task):
    s = parse_mail_settings({"hostname": "mx1.example.test", "domains": {"example.test": {}}})
    fresh = run_task(tls.configure, s)
    assert any(c.startswith("umask 077 && openssl req -x509") for c in fresh.commands())
    pem = {"user": "root", "group": "root", "mode": 600, "size": 1}
    kept = run_task(tls.configure, s, facts={"File": {svc.TLS_KEY: pem, svc.TLS_CERT: pem}})
    assert not any("openssl req" in c for c in kept.commands())
