"""tasks/_staged.py and tasks/_snapshot.py: new files are checked in a staging copy
before they replace live ones; a converged host reads its state once and changes nothing."""

from __future__ import annotations

import hashlib

import pytest
from pyinfra.api import OperationError

from mailops.inventory import parse_mail_settings
from mailops.services import dovecot as dovecot_svc
from mailops.services import mta_sts as mta_sts_svc
from mailops.services.paths import POSTFIX_MAPS_DIR
from tasks import dovecot, mta_sts, postfix
from tasks._common import MAIL_PACKAGES

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
SETTINGS = parse_mail_settings({
    "hostname": "mx1.example.test",
    "domains": {"example.test": {"mailboxes": {"alice": {"password_hash": HASH}}},
                "tenant2.test": {"mailboxes": {"carol": {"password_hash": HASH}}}}})

STAGE = "/etc/mailops/staging/postfix"
RUNNING = {"units": {u: ("active", "enabled") for u in (
    "postfix.service", "dovecot.service", "nginx.service",
    "postfix-mta-sts-resolver.service")}}
PACKAGES = {p: ["1"] for p in [*MAIL_PACKAGES, "nginx-light", "postfix-mta-sts-resolver"]}


def converged(run, **overrides) -> dict:
    """The host state a first run leaves behind (owner, mode and digest of every file)."""
    files = {}
    for op in run.ops:
        for dest, content in op.uploads.items():
            mode, owner = op.modes[dest].split()
            user, group = owner.split(":")
            files[dest] = ("regular file", int(mode, 8), user, group,
                           hashlib.sha256(content.encode()).hexdigest())
        for command in op.commands:
            if command.startswith("install -d"):
                for part in command.split(" && "):
                    _, _, _, mode, _, user, _, group, path = part.split()
                    files[path] = ("directory", int(mode, 8), user, group, None)
    files.update(overrides)
    return {"HostState": {"files": files, **RUNNING}, "DebPackages": PACKAGES,
            "SystemdStatus": {u: True for u in RUNNING["units"]},
            "Groups": ["vmail"], "Users": {"vmail": {
                "uid": 5000, "group": "vmail", "home": "/var/vmail",
                "shell": "/usr/sbin/nologin", "groups": []}}}


def test_the_check_runs_on_the_staged_copy_before_anything_goes_live(run_task):
    commands = run_task(postfix.configure, SETTINGS).op("Render /etc/postfix/main.cf").commands
    check = next(i for i, c in enumerate(commands) if "check" in c)
    assert f"postfix -c {STAGE}/etc/postfix check" in commands[check]
    # a failing check removes the staged copy and stops before the `mv`s
    assert f"rm -rf {STAGE}; echo 'mailops: postfix: the check failed" in commands[check]
    assert all("mv -f" not in c for c in commands[:check + 1])
    assert f"mv -f {STAGE}/etc/postfix/main.cf /etc/postfix/main.cf" in commands[check + 1]


def test_a_second_deploy_changes_nothing_and_reads_host_state_once(run_task):
    first = run_task(postfix.configure, SETTINGS)
    again = run_task(postfix.configure, SETTINGS, facts=converged(first))
    assert again.commands() == []
    assert again.reads.count("HostState") == 1
    assert "Sha1File" not in again.reads and "File" not in again.reads


def test_one_changed_table_is_staged_beside_copies_of_the_live_files(run_task):
    first = run_task(postfix.configure, SETTINGS)
    table = f"{POSTFIX_MAPS_DIR}/virtual_alias_maps"
    stale = ("regular file", 0o644, "root", "root", "0" * 64)
    run = run_task(postfix.configure, SETTINGS, facts=converged(first, **{table: stale}))
    config = run.op("Render /etc/postfix/main.cf")
    assert list(config.uploads) == [table]  # only the changed file travels
    copy = next(c for c in config.commands if c.startswith("rm -rf"))
    assert "cd / && cp -p --parents -- etc/postfix/main.cf etc/postfix/master.cf" in copy
    assert table.lstrip("/") not in copy
    assert config.commands[-1] == (f"mkdir -p {POSTFIX_MAPS_DIR} && mv -f {STAGE}{table} "
                                   f"{table} && rm -rf {STAGE}")
    assert run.op("Reload Postfix").commands == ["systemctl reload postfix.service"]


def test_a_wrong_mode_alone_is_fixed_in_place_without_staging_or_reload(run_task):
    first = run_task(postfix.configure, SETTINGS)
    main = first.op("Render /etc/postfix/main.cf").uploads["/etc/postfix/main.cf"]
    digest = hashlib.sha256(main.encode()).hexdigest()
    loose = {"/etc/postfix/main.cf": ("regular file", 0o666, "root", "root", digest)}
    run = run_task(postfix.configure, SETTINGS, facts=converged(first, **loose))
    assert run.op("Render /etc/postfix/main.cf").commands == [
        "chown root:root /etc/postfix/main.cf && chmod 644 /etc/postfix/main.cf"]


def test_a_new_mailbox_rewrites_the_passwd_file_without_restarting_dovecot(run_task):
    first = run_task(dovecot.configure, SETTINGS)
    stale = ("regular file", 0o640, "root", "dovecot", "0" * 64)
    run = run_task(dovecot.configure, SETTINGS,
                   facts=converged(first, **{dovecot_svc.DOVECOT_USERS: stale}))
    assert list(run.op(f"Render {dovecot_svc.DOVECOT_USERS}").uploads) == \
        [dovecot_svc.DOVECOT_USERS]
    assert run.op("Restart Dovecot").commands == []
    assert run.op(f"Render {dovecot_svc.DOVECOT_CONF}").commands == []


def many(count: int):
    domains = {f"tenant{i:03d}.example": {"mta_sts": {"mode": "enforce"}} for i in range(count)}
    return parse_mail_settings({"hostname": "mx1.example.test", "tls": {"mode": "self-signed"},
                                "domains": domains})


def test_three_hundred_domains_cost_the_same_operations_and_reads_as_two(run_task):
    runs = {}
    for count in (2, 300):
        s = many(count)
        first = run_task(mta_sts.configure, s, [s])
        runs[count] = (first, run_task(mta_sts.configure, s, [s], facts=converged(first)))
    assert len(runs[300][0].op("MTA-STS policies").uploads) == 301  # 300 policies + site
    assert runs[2][0].names() == runs[300][0].names()
    assert runs[2][1].reads == runs[300][1].reads
    assert runs[300][1].commands() == []


def test_a_changed_policy_is_not_a_reason_to_reload_nginx(run_task):
    s = many(2)
    first = run_task(mta_sts.configure, s, [s])
    policy = f"{mta_sts_svc.MTA_STS_DIR}/tenant001.example.txt"
    stale = ("regular file", 0o644, "root", "root", "0" * 64)
    run = run_task(mta_sts.configure, s, [s], facts=converged(first, **{policy: stale}))
    assert list(run.op("MTA-STS policies").uploads) == [policy]
    assert run.op("Reload nginx (site changed)").commands == []


def test_a_directory_where_a_config_file_belongs_stops_with_what_to_do(run_task):
    first = run_task(postfix.configure, SETTINGS)
    odd = {"/etc/postfix/master.cf": ("directory", 0o755, "root", "root", None)}
    with pytest.raises(OperationError, match=r"found /etc/postfix/master.cf on the host but "
                                             r"it is a directory; expected a regular file"):
        run_task(postfix.configure, SETTINGS, facts=converged(first, **odd))
