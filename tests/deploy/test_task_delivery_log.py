"""tasks/delivery_log.py and the Postfix side of the delivery log (subjects)."""

from __future__ import annotations

from test_task_staging import converged

from mailops.inventory import parse_mail_settings
from mailops.services import onhost
from mailops.services.paths import POSTFIX_MAPS_DIR
from tasks import delivery_log, postfix
from tasks.bounce import ACL_COMMAND

UNIT = "/etc/systemd/system/mailops-delivery-log.service"
ACL = "user::rwx\nuser:mailops-delivery:--x\ngroup::rwx\nmask::rwx\nother::---"
# What getent(1) prints for the account the first deploy made.
GETENT = "getent group mailops-delivery; getent passwd mailops-delivery"
ACCOUNT = ("mailops-delivery:x:990:\n"
           "mailops-delivery:x:990:990:mailops delivery log:/var/lib/mailops/delivery:"
           "/usr/sbin/nologin")


def settings(**log):
    raw = {"hostname": "mx1.example.test", "domains": {"example.test": {}}}
    if log:
        raw["delivery_log"] = log
    return parse_mail_settings(raw)


def exec_start(unit: str) -> str:
    (line,) = [ln for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    return line


def test_a_fresh_host_gets_the_user_the_acl_and_a_started_sandboxed_service(run_task):
    run = run_task(delivery_log.configure, settings())
    assert any(c.startswith("useradd") and c.endswith("mailops-delivery")
               for c in run.commands())
    assert run.op("may pass through").commands == [
        "setfacl -m u:mailops-delivery:x /var/lib/mailops"]
    unit = run.upload(UNIT)
    assert exec_start(unit) == (
        "ExecStart=env PYTHONPATH=/usr/local/lib/mailops /usr/bin/python3 -S -m mailops_host"
        " delivery-log --db /var/lib/mailops/delivery/delivery.sqlite3 --retention-days 30")
    for line in ("User=mailops-delivery", "SupplementaryGroups=systemd-journal",
                 "StateDirectory=mailops/delivery", "Restart=on-failure",
                 "ProtectSystem=strict", "PrivateNetwork=yes", "NoNewPrivileges=yes"):
        assert line in unit.splitlines()
    # New code means a new unit: the package version is in it, so the service restarts.
    assert onhost.package_version() in unit
    assert run.op("daemon-reload").commands == ["systemctl daemon-reload"]
    assert "systemctl start mailops-delivery-log.service" in run.commands()


def test_the_acl_is_not_set_again_when_the_host_has_it(run_task):
    run = run_task(delivery_log.configure, settings(), facts={
        "HostState": {"files": {}, "units": {}, "outputs": {ACL_COMMAND: ACL}}})
    assert run.op("may pass through").commands == []


def host_after(first, **outputs) -> dict:
    """The host a first deploy left: its unit file, the account, the ACL, the service
    running, all answered by the one-pass read."""
    facts = converged(first)
    facts["HostState"]["units"] = {"mailops-delivery-log.service": ("active", "enabled")}
    facts["SystemdStatus"] = {"mailops-delivery-log.service": True}
    facts["HostState"]["outputs"] = {
        ACL_COMMAND: ACL,
        GETENT: ACCOUNT,
        **outputs}
    return facts


def test_a_second_deploy_changes_nothing_and_asks_the_host_once(run_task):
    first = run_task(delivery_log.configure, settings())
    again = run_task(delivery_log.configure, settings(), facts=host_after(first))
    assert again.commands() == []
    # No user, group, file or command facts of its own: the one-pass read answers all.
    assert again.reads == ["HostState"]


def test_new_settings_replace_the_unit_reload_systemd_and_restart_the_service(run_task):
    first = run_task(delivery_log.configure, settings())
    run = run_task(delivery_log.configure, settings(retention_days=7), facts=host_after(first))
    assert exec_start(run.upload(UNIT)).endswith("--retention-days 7")
    assert run.op("daemon-reload").commands == ["systemctl daemon-reload"]
    assert run.op("Restart").commands == ["systemctl restart mailops-delivery-log.service"]
    assert not [c for c in run.commands() if "useradd" in c or "setfacl" in c]


def test_an_account_with_another_home_is_put_right(run_task):
    first = run_task(delivery_log.configure, settings())
    moved = ACCOUNT.replace("/var/lib/mailops/delivery", "/home/mailops-delivery")
    run = run_task(delivery_log.configure, settings(), facts={
        **host_after(first, **{GETENT: moved}),
        "Groups": ["mailops-delivery"],
        "Users": {"mailops-delivery": {"uid": 990, "group": "mailops-delivery",
                                       "home": "/home/mailops-delivery",
                                       "shell": "/usr/sbin/nologin", "groups": [],
                                       "comment": "mailops delivery log"}}})
    assert [c for c in run.commands() if c.startswith("usermod")]
    assert "daemon-reload" not in " ".join(run.commands())


def test_retention_and_subjects_reach_the_service(run_task):
    run = run_task(delivery_log.configure, settings(retention_days=7, subjects=True))
    assert exec_start(run.upload(UNIT)).endswith("--retention-days 7 --subjects")


def test_postfix_logs_subjects_only_when_the_inventory_keeps_them(run_task):
    off = run_task(postfix.configure, settings())
    assert not [ln for ln in off.upload("/etc/postfix/main.cf").splitlines()
                if ln.startswith("header_checks")]
    rules = [ln for ln in off.upload(f"{POSTFIX_MAPS_DIR}/subject_logging").splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert rules == []
    on = run_task(postfix.configure, settings(subjects=True))
    assert f"header_checks = regexp:{POSTFIX_MAPS_DIR}/subject_logging" in \
        on.upload("/etc/postfix/main.cf").splitlines()
    assert "/^Subject:/ INFO" in on.upload(f"{POSTFIX_MAPS_DIR}/subject_logging").splitlines()
