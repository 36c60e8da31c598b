"""tasks/postfix.py and tasks/dovecot.py: whole files rendered, gated reloads, hashes hidden."""

from __future__ import annotations

from mailops.inventory import parse_mail_settings
from mailops.services import dovecot as dovecot_svc
from mailops.services.paths import POSTFIX_MAPS_DIR
from mailops.services.postfix import MAPS
from tasks import dovecot, postfix

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
SETTINGS = parse_mail_settings({
    "hostname": "mx1.example.test",
    "domains": {
        "example.test": {"mailboxes": {"alice": {"password_hash": HASH, "quota": "1G"},
                                       "bob": {"password_hash": HASH}},
                         "aliases": {"sales": ["alice@example.test", "bob@example.test"]}},
        "tenant2.test": {"mailboxes": {"carol": {"password_hash": HASH}},
                         "catch_all": "carol@tenant2.test"},
    }})


def table(text: str) -> dict[str, str]:
    rows = [line.split(None, 1) for line in text.splitlines()
            if line.strip() and not line.startswith("#")]
    return {k: v for k, v in rows}


def test_postfix_gets_main_cf_master_cf_and_every_table_then_a_checked_reload(run_task):
    run = run_task(postfix.configure, SETTINGS,
                   facts={"SystemdStatus": {"postfix.service": True}})
    for name in ("main.cf", "master.cf"):
        assert f"upload /etc/postfix/{name}" in run.commands()
    for name in MAPS:
        assert f"upload {POSTFIX_MAPS_DIR}/{name}" in run.commands()
    senders = table(run.upload(f"{POSTFIX_MAPS_DIR}/sender_login_maps"))
    assert senders["sales@example.test"] == "alice@example.test, bob@example.test"
    assert "@tenant2.test" in table(run.upload(f"{POSTFIX_MAPS_DIR}/virtual_alias_maps"))
    names = run.names()
    check = names.index("Postfix | Check the Postfix configuration (postfix check)")
    assert names[check + 1] == "Postfix | Reload Postfix (configuration, tables or TLS changed)"
    assert run.op("Reload Postfix").commands == ["systemctl reload postfix.service"]


def test_the_suppression_map_is_the_stores_own_table_file(run_task):
    from mailops.bounce.store import postfix_map_cf
    from mailops.services.bounce import BOUNCE_DB

    cf = run_task(postfix.configure, SETTINGS).upload(f"{POSTFIX_MAPS_DIR}/suppression.cf")
    assert cf.endswith(postfix_map_cf(BOUNCE_DB)) and not cf.endswith("\n\n")


def test_dovecot_users_go_up_as_a_secret_and_no_hash_is_in_any_command(run_task):
    run = run_task(dovecot.configure, SETTINGS)
    users = run.op(f"Render {dovecot_svc.DOVECOT_USERS}")
    assert users.commands[0] == \
        f"install -m 640 -o root -g dovecot /dev/null {dovecot_svc.DOVECOT_USERS}"
    lines = users.uploads[dovecot_svc.DOVECOT_USERS].splitlines()
    assert f"alice@example.test:{HASH}::::::userdb_quota_rule=*:storage=1073741824B" in lines
    assert not any(HASH in c or "argon2id" in c for c in run.commands())
    assert "groupadd -r vmail --gid 5000" in run.commands()
    assert run.op("Check dovecot.conf").commands == ["doveconf -n >/dev/null"]
