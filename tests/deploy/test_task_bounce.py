"""tasks/bounce.py: the hook's user, code, database and VERP secret."""

from __future__ import annotations

from mailops.inventory import parse_mail_settings
from mailops.services import bounce as svc
from mailops.services import onhost
from tasks import bounce

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
SETTINGS = parse_mail_settings({"hostname": "mx1.example.test", "domains": {
    "example.test": {"mailboxes": {"alice": {"password_hash": HASH}}}}})
FILE = {"user": "root", "group": "root", "mode": 640, "size": 65}


def test_a_fresh_host_gets_the_user_the_database_and_a_secret_made_on_the_host(run_task):
    run = run_task(bounce.configure, SETTINGS)
    assert "useradd -d /var/lib/mailops -s /usr/sbin/nologin -g mailops-bounce -r " \
           "-c 'mailops bounce hook' -M mailops-bounce" in run.commands()
    # Both made on the host by the host package, called by name, as their owners.
    assert run.op("Create the bounce database").commands == [
        "runuser -u mailops-bounce -- env PYTHONPATH=/usr/local/lib/mailops /usr/bin/python3 "
        "-S -m mailops_host init-db /var/lib/mailops/bounces.sqlite3"]
    # The secret's value is never in argv: the package writes it straight into the file.
    assert run.op("Generate the VERP secret").commands == [
        "env PYTHONPATH=/usr/local/lib/mailops /usr/bin/python3 -S -m mailops_host "
        f"new-secret {svc.BOUNCE_SECRET}"]
    assert run.op("Default ACL").commands == [
        "setfacl -m d:u:mailops-bounce:rw-,d:g:postfix:rw- /var/lib/mailops"]
    # The host package: one upload of the whole package and one install, named by version.
    version = onhost.package_version()
    tarball = f"/usr/local/lib/mailops/.mailops_host-{version}.tar"
    assert f"upload {tarball}" in run.commands()
    assert run.op(f"Install mailops_host {version} (was not installed)").commands == [
        onhost.install_script(tarball)]


VERSION_FACT = ("cat /usr/local/lib/mailops/mailops_host/VERSION 2>/dev/null; "
                "[ -d /usr/local/lib/mailops/bounce ] && ! grep -qs /usr/local/lib/mailops/bounce/ "
                "/etc/postfix/master.cf && echo legacy-unused; true")


def test_the_host_package_is_left_alone_when_the_host_has_its_version(run_task):
    run = run_task(bounce.configure, SETTINGS,
                   facts={"Command": {VERSION_FACT: onhost.package_version()}})
    assert not [n for n in run.names() if "mailops_host" in n]


def test_another_version_on_the_host_is_replaced_whole(run_task):
    run = run_task(bounce.configure, SETTINGS, facts={"Command": {VERSION_FACT: "0.0.9+old"}})
    version = onhost.package_version()
    (install,) = run.op(f"Install mailops_host {version} (was 0.0.9+old)").commands
    # Unpacked beside the old one, compiled, then switched by one rename.
    assert install.index("compileall") < install.index("mv -T .mailops_host.new mailops_host")


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


def test_the_old_loose_hook_folder_goes_once_postfix_no_longer_names_it(run_task):
    version = onhost.package_version()
    kept = run_task(bounce.configure, SETTINGS, facts={"Command": {VERSION_FACT: version}})
    assert not [n for n in kept.names() if "Remove /usr/local/lib/mailops/bounce" in n]
    gone = run_task(bounce.configure, SETTINGS,
                    facts={"Command": {VERSION_FACT: f"{version}\nlegacy-unused"},
                           "Directory": {"/usr/local/lib/mailops/bounce": {
                               "user": "root", "group": "root", "mode": 755}}})
    assert gone.op("Remove /usr/local/lib/mailops/bounce").commands == [
        "rm -rf /usr/local/lib/mailops/bounce"]
    assert not [n for n in gone.names() if "Install mailops_host" in n]
