"""tasks/bounce.py: the hook's user, code, database and VERP secret."""

from __future__ import annotations

from mailops.inventory import parse_mail_settings
from mailops.services import bounce as svc
from tasks import bounce

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
SETTINGS = parse_mail_settings({"hostname": "mx1.example.test", "domains": {
    "example.test": {"mailboxes": {"alice": {"password_hash": HASH}}}}})
FILE = {"user": "root", "group": "root", "mode": 640, "size": 65}


def test_a_fresh_host_gets_the_user_the_database_and_a_secret_made_on_the_host(run_task):
    run = run_task(bounce.configure, SETTINGS)
    assert "useradd -d /var/lib/mailops -s /usr/sbin/nologin -g mailops-bounce -r " \
           "-c 'mailops bounce hook' -M mailops-bounce" in run.commands()
    (make_db,) = run.op("Create the bounce database").commands
    assert make_db.startswith("runuser -u mailops-bounce -- /usr/bin/python3 -S -c ")
    (make_secret,) = run.op("Generate the VERP secret").commands
    # Made on the host with umask 077 before the file exists; the value never in argv.
    assert "umask 077" in make_secret and "secrets.token_hex(32)" in make_secret
    assert make_secret.startswith(f"[ -e {svc.BOUNCE_SECRET} ] ||")
    assert run.op("Default ACL").commands == [
        "setfacl -m d:u:mailops-bounce:rw-,d:g:postfix:rw- /var/lib/mailops"]
    for module in svc.BOUNCE_HOOK_MODULES:
        assert f"upload {svc.BOUNCE_LIB}/{module}.py" in run.commands()


def test_an_existing_secret_and_database_are_never_made_again(run_task):
    acl = "\n".join(["user::rwx", "default:user:mailops-bounce:rw-",
                     "default:group:postfix:rw-"])
    run = run_task(bounce.configure, SETTINGS, facts={
        "File": {svc.BOUNCE_SECRET: FILE, svc.BOUNCE_DB: FILE},
        "Command": {f"getfacl -cp {svc.BOUNCE_STATE_DIR} 2>/dev/null || true": acl},
    })
    names = run.names()
    assert not any("Generate the VERP secret" in n or "Create the bounce database" in n
                   or "Default ACL" in n for n in names)
    # Only owner and mode are enforced on the secret; its content is never read.
    assert run.op("bounce-secret: root:mailops-bounce 0640").commands == [
        "chown root:mailops-bounce /etc/mailops/bounce-secret"]
