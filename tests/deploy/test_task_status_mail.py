"""tasks/status_mail.py: what the status mail checks, its timer, and turning it off."""

from __future__ import annotations

import json

from test_task_staging import converged

from mailops.inventory import parse_mail_settings
from mailops.services import status_mail as svc
from tasks import status_mail
from tasks._common import enabled_and_running

RAW = {"hostname": "mx1.example.test", "ipv4": ["192.0.2.10"], "ipv6": ["2001:db8::10"],
       "blocklists": ["zen.spamhaus.org"],
       "domains": {"example.test": {}, "tenant2.test": {}}}
TIMER = f"{svc.UNIT_DIR}/{svc.TIMER}"
SERVICE = f"{svc.UNIT_DIR}/{svc.SERVICE}"


def deploy(settings):
    """The tail of deploy.py: tasks that keep units running, then the status mail."""
    enabled_and_running("Postfix enabled and running", "postfix")
    enabled_and_running("certbot.timer enabled", "certbot.timer")
    status_mail.configure(settings)


def test_the_config_names_the_units_this_deploy_keeps_running_and_the_inventorys_choices(
        run_task):
    run = run_task(deploy, parse_mail_settings(RAW))
    config = json.loads(run.upload(svc.CONFIG))
    assert config["units"] == ["certbot.timer", "mailops-milter-watchdog.timer",
                               "postfix.service"]
    assert (config["to"], config["from"]) == ("postmaster@example.test",
                                              "postmaster@example.test")
    assert config["dnsbl"] == ["zen.spamhaus.org"]
    assert config["addresses"] == ["192.0.2.10", "2001:db8::10"]
    assert config["certificates"] == [{"name": "mx1.example.test",
                                       "path": "/etc/mailops/tls/fullchain.pem"}]
    timer = run.upload(TIMER)
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    assert "RandomizedDelaySec=1h" in timer and "WantedBy=timers.target" in timer
    assert "ExecStart=env PYTHONPATH=/usr/local/lib/mailops /usr/bin/python3 -S -m " \
           "mailops_host status-mail" in run.upload(SERVICE)
    assert run.op("daemon-reload (status mail units changed)").commands == [
        "systemctl daemon-reload"]
    assert run.op(f"{svc.TIMER} enabled and running").commands == [
        f"systemctl enable {svc.TIMER}", f"systemctl start {svc.TIMER}"]


def test_its_own_recipient_and_no_blocklists_when_the_inventory_says_so(run_task):
    raw = {**RAW, "status_mail": {"to": "ops@example.net", "dnsbl": []}}
    config = json.loads(run_task(deploy, parse_mail_settings(raw)).upload(svc.CONFIG))
    assert (config["to"], config["dnsbl"]) == ("ops@example.net", [])


def test_turned_off_the_timer_stops_and_its_files_and_record_go(run_task):
    settings = parse_mail_settings({**RAW, "status_mail": {"enabled": False}})
    unit = ("regular file", 0o644, "root", "root", None)
    run = run_task(status_mail.configure, settings, facts={"HostState": {"files": {
        TIMER: unit, SERVICE: unit, svc.CONFIG: unit,
        svc.STATE_DIR: ("directory", 0o2700, "root", "root", None)}, "units": {}}})
    assert run.op("Remove the status mail").commands == [
        f"systemctl disable --now {svc.TIMER}", f"rm -f {TIMER} {SERVICE} {svc.CONFIG}",
        f"rm -rf {svc.STATE_DIR}", "systemctl daemon-reload"]
    assert not [n for n in run.names() if "Render" in n]
    # Decided on the one-pass read: no file or directory facts of its own.
    assert run.reads == ["HostState"]


def test_a_second_deploy_changes_nothing_and_asks_the_host_once(run_task):
    first = run_task(deploy, parse_mail_settings(RAW))
    facts = converged(first)
    facts["HostState"]["units"] = {u: ("active", "enabled") for u in (
        "postfix.service", "certbot.timer", svc.TIMER)}
    again = run_task(deploy, parse_mail_settings(RAW), facts=facts)
    assert again.commands() == []
    assert again.reads == ["HostState"]


def test_a_changed_config_alone_does_not_reload_systemd(run_task):
    first = run_task(deploy, parse_mail_settings(RAW))
    raw = {**RAW, "status_mail": {"to": "ops@example.net"}}
    run = run_task(deploy, parse_mail_settings(raw), facts=converged(first))
    assert json.loads(run.upload(svc.CONFIG))["to"] == "ops@example.net"
    assert run.op("daemon-reload (status mail units changed)").commands == []


def test_turned_off_on_a_host_that_never_had_it_changes_nothing(run_task):
    settings = parse_mail_settings({**RAW, "status_mail": {"enabled": False}})
    run = run_task(status_mail.configure, settings)
    assert run.commands() == []
