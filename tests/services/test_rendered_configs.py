"""The rendered Postfix, Dovecot and OpenDKIM configuration, checked by the real binaries.

Every template is rendered from a lab-like inventory (two tenants, mailboxes, aliases, a
catch-all) exactly as the deploy renders it (services.render uses pyinfra's Jinja
options), into a temporary directory, and then:

- Postfix: ``postconf -n``/``-M``/``-P`` with any warning treated as a failure (an unused
  or misspelt parameter is a warning), ``postmap -q`` lookups in the texthash tables;
- Dovecot: ``doveconf -n`` on the whole dovecot.conf, ``doveadm pw -t`` on every hash in
  the passwd-file (bare crypt strings must have been given a scheme Dovecot verifies);
- OpenDKIM: ``opendkim -n`` and a real signature made by ``opendkim -t`` with the
  keystore's key, verified with dkimpy against the keystore's TXT record.

Needs: apt-get install postfix postfix-sqlite dovecot-imapd dovecot-lmtpd opendkim
opendkim-tools (the test skips, naming the package, when a binary is absent).
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mailops.inventory import parse_mail_settings
from mailops.passwords import hash_password
from mailops.services import dovecot, opendkim, postfix
from mailops.services.render import render

pytestmark = pytest.mark.services

PASSWORD = "correct horse battery staple"

BINARIES = {
    "postconf": "postfix", "postmap": "postfix", "doveconf": "dovecot-core",
    "doveadm": "dovecot-core", "opendkim": "opendkim",
}


def need(*tools: str) -> None:
    for tool in tools:
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            pytest.skip(f"{tool} not installed (apt-get install {BINARIES[tool]})")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which(args[0]) or f"/usr/sbin/{args[0]}"
    return subprocess.run([exe, *args[1:]], capture_output=True, text=True, check=check,
                          timeout=60)


def real_sha512_crypt() -> str:
    """A bare $6$ hash as `doveadm pw -s SHA512-CRYPT` makes it (scheme prefix removed)."""
    out = run("doveadm", "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD).stdout.strip()
    assert out.startswith("{SHA512-CRYPT}$6$")
    return out.removeprefix("{SHA512-CRYPT}")


def self_signed(dirpath: Path, hostname: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = dirpath / "fullchain.pem", dirpath / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def dkim_keys(keystore: Path, domains: list[str]) -> dict[str, tuple[str, Path, str]]:
    """domain -> (selector, private key path, TXT value) from the keystore."""
    from mailops.dkim.keystore import Keystore

    store = Keystore(keystore)
    out = {}
    for d in domains:
        key = store.ensure_key(d, "rsa-2048")
        out[d] = (key.selector, key.private_key_path, key.txt_value)
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need("doveadm")
    h = hash_password(PASSWORD)
    return parse_mail_settings({
        "hostname": "mx.example.test",
        "domains": {
            "example.test": {
                "mailboxes": {"alice": {"password_hash": h, "quota": "1G"},
                              "bob": {"password_hash": real_sha512_crypt()}},
                "aliases": {"postmaster": "alice@example.test",
                            "team": ["alice@example.test", "bob@example.test"],
                            "ext": "someone@remote.test"},
            },
            "tenant2.test": {
                "mailboxes": {"carol": {"password_hash": h.removeprefix("{ARGON2ID}")},
                              "dave": {"password_hash": h, "quota": "10M"}},
                "aliases": {"postmaster": "carol@tenant2.test",
                            "shared": ["carol@tenant2.test", "alice@example.test"]},
                "catch_all": "carol@tenant2.test",
            },
        },
        "message_size_limit": "25M",
        "client_message_rate_limit": 30,
        "client_recipient_rate_limit": 90,
    })


@pytest.fixture(scope="module")
def rendered(lab, tmp_path_factory):
    """Render every template into <tmp>/{postfix,dovecot,opendkim}; return the paths."""
    root = tmp_path_factory.mktemp("rendered")
    pf, maps, dc, od, tls = (root / "postfix", root / "postfix" / "maps", root / "dovecot",
                             root / "opendkim", root / "tls")
    for d in (pf, maps, dc, od, tls):
        d.mkdir(parents=True, exist_ok=True)

    ctx = postfix.postfix_context(lab)
    ctx["maps_dir"] = str(maps)
    for name in ("main.cf", "master.cf"):
        (pf / name).write_text(render(f"postfix/{name}.j2", **ctx))
    for name in postfix.MAPS:
        (maps / name).write_text(render(f"postfix/{name}.j2", **ctx))

    cert, key = self_signed(tls, lab.hostname)
    dctx = dovecot.dovecot_context(lab, tls_cert=str(cert), tls_key=str(key),
                              users_file=str(dc / "users"))
    (dc / "dovecot.conf").write_text(render("dovecot/dovecot.conf.j2", **dctx))
    (dc / "users").write_text(render("dovecot/users.j2", **dctx))

    # OpenDKIM's RequireSafeKeys refuses keys below a world-writable directory such as
    # /tmp, so the keys the signing test uses live in a private directory under $HOME.
    keys = dkim_keys(root / "keystore", postfix.hosted_domains(lab))
    safe = Path(tempfile.mkdtemp(prefix="mailops-test-dkim-", dir=Path.home()))
    for domain, (selector, path, _) in keys.items():
        (safe / domain).mkdir(mode=0o700)
        shutil.copy(path, safe / domain / f"{selector}.private")
        (safe / domain / f"{selector}.private").chmod(0o600)
    octx = opendkim.opendkim_context(lab, {d: s for d, (s, _, _) in keys.items()},
                               tables_dir=str(od), keys_dir=str(safe))
    for name in ("opendkim.conf", "KeyTable", "SigningTable", "TrustedHosts",
                 "sender-policy.lua"):
        (od / name).write_text(render(f"opendkim/{name}.j2", **octx))
    yield {"postfix": pf, "maps": maps, "dovecot": dc, "opendkim": od, "keys": keys,
           "root": root}
    shutil.rmtree(safe, ignore_errors=True)


# --------------------------------------------------------------------------- Postfix


def postconf(rendered, *args):
    need("postconf")
    p = run("postconf", "-c", str(rendered["postfix"]), *args)
    assert p.stderr == "", p.stderr  # "unused parameter", "unknown service", ...
    return p.stdout


def postconf_values(rendered) -> dict[str, str]:
    """main.cf as postconf -n -x reports it: each set parameter, macros expanded."""
    values = {}
    for line in postconf(rendered, "-n", "-x").splitlines():
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


def test_main_cf_is_accepted_by_postconf_without_a_single_warning(rendered):
    out = postconf(rendered, "-n")
    assert "myhostname = mx.example.test" in out


def test_master_cf_services_and_their_overrides_are_accepted_without_warnings(rendered):
    services = postconf(rendered, "-M")
    for name, kind in (("smtp", "inet"), ("submission", "inet"), ("submissions", "inet"),
                       ("lmtp", "unix")):
        assert re.search(rf"^{name}\s+{kind}\s", services, re.M), (name, kind)
    params = postconf(rendered, "-P")
    assert "submission/inet/smtpd_tls_security_level = encrypt" in params
    assert "submissions/inet/smtpd_tls_wrappermode = yes" in params
    for svc in ("submission", "submissions"):
        assert f"{svc}/inet/smtpd_sasl_auth_enable = yes" in params
        assert f"{svc}/inet/milter_macro_daemon_name = ORIGINATING" in params


def test_submission_requires_auth_and_refuses_sender_login_mismatch(rendered):
    expanded = postconf(rendered, "-P", "-x")
    assert ("submission/inet/smtpd_client_restrictions = permit_sasl_authenticated, reject"
            in expanded)
    assert "reject_sender_login_mismatch" in expanded
    assert ("submissions/inet/smtpd_relay_restrictions = permit_sasl_authenticated,reject"
            in expanded)


def test_the_policy_parameters_have_the_values_the_issue_asks_for(rendered, lab):
    values = postconf_values(rendered)
    assert values["smtpd_relay_restrictions"].endswith("reject_unauth_destination")
    assert "reject_unlisted_recipient" in values["smtpd_recipient_restrictions"]
    assert values["smtpd_reject_unlisted_recipient"] == "yes"
    assert values["smtpd_sasl_auth_enable"] == "no"  # no AUTH on port 25
    assert values["smtpd_sasl_type"] == "dovecot"
    assert values["smtpd_sasl_path"] == "private/auth"
    assert values["virtual_transport"] == "lmtp:unix:private/dovecot-lmtp"
    assert values["recipient_delimiter"] == "+"
    assert values["message_size_limit"] == str(25 * 1024**2)
    assert values["smtpd_client_message_rate_limit"] == "30"
    assert values["smtpd_client_recipient_rate_limit"] == "90"
    assert values["smtpd_milters"] == "unix:opendkim/opendkim.sock"
    assert values["non_smtpd_milters"] == "unix:opendkim/opendkim.sock"
    assert values["milter_default_action"] == "tempfail"
    assert values["mydestination"] == "mx.example.test, localhost"
    for domain in lab.domains:
        assert domain.name not in values["mydestination"].split(", ")


def test_every_texthash_table_main_cf_names_exists_and_parses(rendered):
    out = postconf(rendered, "-n")
    tables = re.findall(r"texthash:(\S+?)(?:,|\s|$)", out)
    # 5 + transport, bounce_recipients, bounce_senders + local_recipients,
    # submission_sender_access
    assert len(set(tables)) == 10
    for table in tables:
        assert Path(table).is_file(), table
        p = run("postmap", "-c", str(rendered["postfix"]), "-s", f"texthash:{table}")
        assert p.stderr == "", p.stderr


def lookup(rendered, table: str, key: str) -> str | None:
    need("postmap")
    p = run("postmap", "-c", str(rendered["postfix"]), "-q", key,
            f"texthash:{rendered['maps'] / table}", check=False)
    assert p.stderr == "", p.stderr
    return p.stdout.strip() if p.returncode == 0 else None


def test_a_mailbox_resolves_and_an_unknown_address_does_not(rendered):
    assert lookup(rendered, "virtual_mailbox_maps", "alice@example.test") == "example.test/alice/"
    assert lookup(rendered, "virtual_mailbox_maps", "nobody@example.test") is None
    assert lookup(rendered, "virtual_mailbox_domains", "tenant2.test") == "OK"
    assert lookup(rendered, "virtual_mailbox_domains", "remote.test") is None


def test_an_alias_resolves_to_its_targets(rendered):
    assert (lookup(rendered, "virtual_alias_maps", "team@example.test")
            == "alice@example.test, bob@example.test")
    assert lookup(rendered, "virtual_alias_maps", "ext@example.test") == "someone@remote.test"


def test_the_catch_all_resolves_and_mailboxes_of_its_domain_map_to_themselves(rendered):
    assert lookup(rendered, "virtual_alias_maps", "@tenant2.test") == "carol@tenant2.test"
    assert lookup(rendered, "virtual_alias_maps", "dave@tenant2.test") == "dave@tenant2.test"
    assert lookup(rendered, "virtual_alias_maps", "@example.test") is None


def test_system_role_addresses_resolve_for_local_delivery(rendered):
    assert lookup(rendered, "local_aliases", "postmaster") == "root"
    assert lookup(rendered, "local_aliases", "abuse") == "postmaster"


def test_the_sender_login_map_lists_who_may_use_each_address(rendered):
    assert lookup(rendered, "sender_login_maps", "alice@example.test") == "alice@example.test"
    assert lookup(rendered, "sender_login_maps", "postmaster@example.test") == "alice@example.test"
    assert (lookup(rendered, "sender_login_maps", "shared@tenant2.test")
            == "alice@example.test, carol@tenant2.test")
    assert lookup(rendered, "sender_login_maps", "ext@example.test") is None
    assert lookup(rendered, "sender_login_maps", "random@tenant2.test") is None


# --------------------------------------------------------------------------- Dovecot


def doveconf(rendered, *args):
    need("doveconf")
    p = run("doveconf", "-c", str(rendered["dovecot"] / "dovecot.conf"), *args)
    assert p.stderr == "", p.stderr
    return p.stdout


def test_dovecot_conf_is_accepted_by_doveconf_without_warnings(rendered):
    out = doveconf(rendered, "-n")
    assert "ssl = required" in out
    assert "passdb {\n  args = scheme=CRYPT username_format=%Lu " in out


def test_dovecot_settings_enforce_tls_quota_and_the_postfix_sockets(rendered):
    names = {
        "ssl": "required", "disable_plaintext_auth": "yes", "protocols": "imap lmtp",
        "auth_username_format": "%Lu", "quota_full_tempfail": "no",
        "lmtp_rcpt_check_quota": "yes", "mail_location": "maildir:~/Maildir",
        "first_valid_uid": "5000", "last_valid_uid": "5000", "ssl_min_protocol": "TLSv1.2",
    }
    assert doveconf(rendered, "-h", *names).splitlines() == list(names.values())
    full = doveconf(rendered, "-n")
    assert "unix_listener /var/spool/postfix/private/auth {\n    group = postfix\n" \
           "    mode = 0660\n    user = postfix" in full
    assert "unix_listener /var/spool/postfix/private/dovecot-lmtp {" in full
    assert "quota_status_overquota = 552 5.2.2 Mailbox full" in full
    assert re.search(r"port = 993\n\s+ssl = yes", full)


def test_every_passwd_file_hash_verifies_with_the_password_in_dovecot(rendered):
    need("doveadm")
    lines = [x for x in (rendered["dovecot"] / "users").read_text().splitlines()
             if x and not x.startswith("#")]
    assert len(lines) == 4
    for line in lines:
        user, password, *rest = line.split(":", 7)
        assert len(rest) == 6, user  # passwd-file(5): 8 fields, extras may contain ':'
        assert password.startswith("{"), user
        p = run("doveadm", "pw", "-t", password, "-p", PASSWORD, check=False)
        assert "(verified)" in p.stdout + p.stderr, (user, p.stderr)


def test_quota_rules_in_the_passwd_file_are_in_bytes(rendered):
    text = (rendered["dovecot"] / "users").read_text()
    assert "alice@example.test:" in text
    assert re.search(r"^alice@example\.test:.*userdb_quota_rule=\*:storage=1073741824B$",
                     text, re.M)
    assert re.search(r"^dave@tenant2\.test:.*userdb_quota_rule=\*:storage=10485760B$",
                     text, re.M)


# --------------------------------------------------------------------------- OpenDKIM


def test_opendkim_conf_passes_the_configuration_check(rendered):
    need("opendkim")
    p = run("opendkim", "-n", "-x", str(rendered["opendkim"] / "opendkim.conf"), check=False)
    assert p.returncode == 0 and p.stderr == "", p.stderr


MESSAGE = (
    "From: {sender}\r\nTo: someone@remote.test\r\nSubject: signed?\r\n"
    "Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@{domain}>\r\n\r\n"
    "Hello from the rendered config.\r\n"
)


def sign_with_opendkim(rendered, sender: str) -> bytes:
    """opendkim -t: run the rendered configuration over one message (client 127.0.0.1)."""
    need("opendkim")
    domain = sender.split("@")[1]
    msg = rendered["root"] / f"msg-{domain}.eml"
    msg.write_text(MESSAGE.format(sender=sender, domain=domain), newline="")
    conf = rendered["root"] / "opendkim-test.conf"
    # Test mode only: log to stderr instead of syslog, and -t has no milter macros, so
    # the envelope sender ({mail_addr}, SenderMacro) falls back to From: — the lab tests
    # cover the macro through the real milter, test_opendkim_sender_policy the
    # FinalPolicyScript (which needs the login macro). Everything else as rendered.
    text = (rendered["opendkim"] / "opendkim.conf").read_text()
    text = re.sub(r"(?m)^(SenderMacro|FinalPolicyScript)\s.*\n", "", text)
    conf.write_text(re.sub(r"(?m)^Syslog\s.*$", "Syslog\t\t\tno", text))
    p = run("opendkim", "-x", str(conf), "-t", str(msg), check=False)
    assert p.returncode == 0, p.stderr
    headers = re.findall(r"^(DKIM-Signature:.*(?:\n\s.*)*)", p.stdout, re.M)
    if not headers:
        return b""
    sig = headers[0].replace("\n", "\r\n") + "\r\n"
    return sig.encode() + msg.read_bytes()


@pytest.mark.parametrize("sender", ["alice@example.test", "carol@tenant2.test"])
def test_mail_from_each_tenant_is_signed_with_that_tenants_key_and_verifies(rendered, sender):
    import dkim

    signed = sign_with_opendkim(rendered, sender)
    assert signed, "opendkim added no DKIM-Signature"
    domain = sender.split("@")[1]
    selector, _, txt = rendered["keys"][domain]
    assert f"d={domain}".encode() in signed and f"s={selector}".encode() in signed

    def dnsfunc(name, timeout=5):
        want = f"{selector}._domainkey.{domain}."
        n = name.decode() if isinstance(name, bytes) else name
        return txt.encode() if n.rstrip(".") + "." == want else b""

    assert dkim.verify(signed, dnsfunc=dnsfunc)


def test_mail_from_a_domain_we_do_not_host_is_not_signed(rendered):
    assert sign_with_opendkim(rendered, "mallory@remote.test") == b""


def test_key_material_never_appears_in_the_rendered_tables(rendered):
    for name in ("KeyTable", "SigningTable", "TrustedHosts", "opendkim.conf"):
        text = (rendered["opendkim"] / name).read_text()
        assert "PRIVATE KEY" not in text
    for _, path, _ in rendered["keys"].values():
        assert os.stat(path).st_mode & 0o077 == 0
