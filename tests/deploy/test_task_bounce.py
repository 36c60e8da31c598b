"""tasks/bounce.py: the hook's user, code, database and VERP secret."""

from __future__ import annotations

from mailops.inventory import parse_mail_settings
from mailops.services import bounce as svc
from mailops.services import onhost
from tasks import bounce, host_package
from tasks._common import MAIL_PACKAGES

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
SETTINGS = parse_mail_settings({"hostname": "mx1.example.test", "domains": {
    "example.test": {"mailboxes": {"alice": {"password_hash": HASH}}}}})
ACCOUNT = "getent group mailops-bounce; getent passwd mailops-bounce"


def converged(**outputs: str) -> dict:
    """The one-pass host state of a host this task has already deployed (owners, modes,
    account, ACL, package VERSION), with ``outputs`` replacing commands' answers."""
    d = "directory"
    files = {"/usr/local/lib/mailops": (d, 0o755, "root", "root", None),
             svc.BOUNCE_STATE_DIR: (d, 0o2770, "mailops-bounce", "postfix", None),
             svc.BOUNCE_QUARANTINE: (d, 0o2700, "mailops-bounce", "mailops-bounce", None),
             svc.BOUNCE_DB: ("regular file", 0o660, "mailops-bounce", "postfix", None),
             svc.BOUNCE_SECRET: ("regular file", 0o640, "root", "mailops-bounce", None)}
    answers = {
        ACCOUNT: "mailops-bounce:x:998:\nmailops-bounce:x:998:998:mailops bounce hook:"
                 "/var/lib/mailops:/usr/sbin/nologin",
        bounce.ACL_COMMAND: "user::rwx\ndefault:user:mailops-bounce:rw-\n"
                            "default:group:postfix:rw-",
        host_package.INSTALLED: onhost.package_version(),
        **outputs}
    return {"HostState": {"files": files, "units": {}, "outputs": answers},
            "DebPackages": {p: ["1"] for p in [*MAIL_PACKAGES, "acl"]}}


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
    # The folders, the code's before the package goes into it.
    names = run.names()
    folders = run.op("Create /usr/local/lib/mailops, /var/lib/mailops").commands[0]
    assert "install -d -m 2770 -o mailops-bounce -g postfix /var/lib/mailops" in folders
    assert names.index(run.op("Create /usr/local/lib/mailops").name) < \
        names.index(run.op("Host package mailops_host").name)
    # The host package: one upload of the whole package and one install, named by version.
    version = onhost.package_version()
    tarball = f"/usr/local/lib/mailops/.mailops_host-{version}.tar"
    assert run.op("Host package mailops_host").commands == [
        f"upload {tarball}", onhost.install_script(tarball)]


def test_a_converged_host_changes_nothing_and_costs_no_read_of_its_own(run_task):
    run = run_task(bounce.configure, SETTINGS, facts=converged())
    assert run.commands() == []
    # Everything came from the deploy's one-pass host state: no user/group/file facts.
    assert set(run.reads) == {"DebPackages", "HostState"}
    assert run.reads.count("HostState") == 1


def test_another_version_on_the_host_is_replaced_whole(run_task):
    run = run_task(bounce.configure, SETTINGS,
                   facts=converged(**{host_package.INSTALLED: "0.0.9+old"}))
    version = onhost.package_version()
    (upload, install) = run.op("Host package mailops_host").commands
    assert upload == f"upload /usr/local/lib/mailops/.mailops_host-{version}.tar"
    # Unpacked beside the old one, compiled, then switched by one rename.
    assert install.index("compileall") < install.index("mv -T .mailops_host.new mailops_host")
    assert [c for c in run.commands() if c not in (upload, install)] == []


def test_every_module_of_the_package_tree_travels_in_the_one_archive(run_task):
    import io
    import tarfile
    from pathlib import Path

    tree = Path(onhost.__file__).resolve().parents[1] / "onhost"
    wanted = {p.relative_to(tree).as_posix() for p in tree.rglob("*.py")}
    with tarfile.open(fileobj=io.BytesIO(onhost.package_tarball())) as tar:
        names = set(tar.getnames())
    assert wanted <= names and "bounce/classify.py" in names and "VERSION" in names
    # A subpackage (a folder with its own __init__.py) comes along without being listed.
    assert {n for n in wanted if "/" in n} <= names


def test_an_existing_secret_and_database_are_never_made_again(run_task):
    facts = converged()
    facts["HostState"]["files"][svc.BOUNCE_SECRET] = ("regular file", 0o640, "root", "root",
                                                      None)
    run = run_task(bounce.configure, SETTINGS, facts=facts)
    names = run.names()
    assert not any(run.op(n).commands for n in names
                   if "Generate the VERP secret" in n or "Create the bounce database" in n
                   or "Default ACL" in n)
    # Only owner and mode are enforced on the secret; its content is never read.
    assert run.op("root:mailops-bounce 0640").commands == [
        "chown root:mailops-bounce /etc/mailops/bounce-secret && "
        "chmod 640 /etc/mailops/bounce-secret"]


def test_the_old_loose_hook_folder_goes_once_postfix_no_longer_names_it(run_task):
    version = onhost.package_version()
    kept = run_task(bounce.configure, SETTINGS, facts=converged())
    assert "rm -rf /usr/local/lib/mailops/bounce" not in kept.commands()
    gone = run_task(bounce.configure, SETTINGS,
                    facts=converged(**{host_package.INSTALLED: f"{version}\nlegacy-unused"}))
    assert gone.op("Host package mailops_host").commands == [
        "rm -rf /usr/local/lib/mailops/bounce"]
