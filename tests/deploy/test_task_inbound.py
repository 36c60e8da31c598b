"""tasks/resolver.py, tasks/rspamd.py, tasks/sieve.py, tasks/guards.py: whole files checked
on a staged copy before they go live, restarts only for what changed, resolv.conf only
after the resolver answers, the controller secret made on the host — and a converged
host answered by the one-pass read alone."""

from __future__ import annotations

import pytest
from test_task_staging import converged

from mailops.inventory import parse_mail_settings
from mailops.services import resolver as resolver_svc
from mailops.services import rspamd as rspamd_svc
from mailops.services import sieve as sieve_svc
from tasks import guards, resolver, rspamd, sieve

SETTINGS = parse_mail_settings({"hostname": "mx1.example.test",
                                "domains": {"example.test": {}}})
STAGE = "/etc/mailops/staging"
PACKAGES = {p: ["1"] for p in ["rspamd", "redis-server", "unbound", "dns-root-data",
                               "dovecot-sieve"]}
SVBINS = [f"{sieve_svc.SIEVE_DIR}/{n.removesuffix('.sieve')}.svbin" for n in sieve_svc.SCRIPTS]


def test_resolv_conf_points_at_unbound_only_after_a_checked_restart(run_task):
    run = run_task(resolver.configure, SETTINGS)
    conf = run.op("Render /etc/unbound/unbound.conf").commands
    check = next(i for i, c in enumerate(conf) if "unbound-checkconf" in c)
    assert f"unbound-checkconf {STAGE}/unbound/etc/unbound/unbound.conf" in conf[check]
    assert "mv -f" in conf[check + 1] and all("mv -f" not in c for c in conf[:check])
    names = run.names()
    order = [next(i for i, n in enumerate(names) if fragment in n) for fragment in (
        "Render /etc/unbound/unbound.conf", "Restart unbound", "unbound answers",
        "Render /etc/resolv.conf")]
    assert order == sorted(order), names
    assert "nameserver 127.0.0.1" in run.upload(resolver_svc.RESOLV_CONF)


def test_rspamd_files_are_checked_on_a_staged_copy_before_the_restart(run_task):
    run = run_task(rspamd.configure, SETTINGS)
    for name in rspamd_svc.LOCAL_FILES:
        assert f"upload {rspamd_svc.RSPAMD_LOCAL_D}/{name}" in run.commands()
    conf = run.op("rspamd's local.d").commands
    check = next(i for i, c in enumerate(conf) if "configtest" in c)
    # rspamd reads the staged local.d/override.d, not the live ones, and a failure
    # stops before any `mv`.
    assert f"rspamadm --var=LOCAL_CONFDIR={STAGE}/rspamd/etc/rspamd configtest" in conf[check]
    assert all("mv -f" not in c for c in conf[:check + 1])
    assert f"{STAGE}/rspamd/etc/rspamd/local.d/options.inc /etc/rspamd/local.d/options.inc" \
        in conf[check + 1]
    names = run.names()
    # The deploy ends only once the restarted rspamd's milter listens (it loads for
    # half a minute; meanwhile Postfix tempfails port-25 mail).
    assert names.index("rspamd and Redis | Restart rspamd (configuration or Redis changed)") \
        < names.index("rspamd and Redis | rspamd's milter answers on inet:127.0.0.1:11332")
    (wait,) = [c for c in run.commands() if "/dev/tcp/127.0.0.1/11332" in c]
    assert "exit 1" in wait  # a rspamd that never listens fails the deploy
    (secret,) = [c for c in run.commands() if "controller-secret" in c and "urandom" in c]
    assert "rspamadm pw" in secret  # no password in the repo
    assert "port 0" in run.upload(rspamd_svc.REDIS_CONF)


def test_a_host_with_the_secret_and_group_does_not_remake_them(run_task):
    run = run_task(rspamd.configure, SETTINGS, facts={"HostState": {
        "files": {rspamd_svc.CONTROLLER_SECRET: ("regular file", 0o640, "root", "_rspamd",
                                                 None)},
        "units": {}, "outputs": {rspamd.REDIS_MEMBERS: "redis:x:110:_rspamd"}}})
    assert run.op("controller password").commands == []
    assert run.op("group redis").commands == []


def test_only_a_changed_sieve_script_is_compiled(run_task):
    run = run_task(sieve.configure)
    assert [c for c in run.commands() if c.startswith("sievec ")] == [
        "sievec /etc/dovecot/sieve/spam-to-junk.sieve",
        "sievec /etc/dovecot/sieve/learn-spam.sieve",
        "sievec /etc/dovecot/sieve/learn-ham.sieve"]
    facts = converged(run)
    for svbin in SVBINS:
        facts["HostState"]["files"][svbin] = ("regular file", 0o644, "root", "root", None)
    script = f"{sieve_svc.SIEVE_DIR}/learn-ham.sieve"
    facts["HostState"]["files"][script] = (*facts["HostState"]["files"][script][:4], "0" * 64)
    again = run_task(sieve.configure, facts=facts)
    assert [c for c in again.commands() if c.startswith("sievec ")] == [f"sievec {script}"]


@pytest.mark.parametrize(("configure", "args", "outputs", "stat"), [
    (resolver.configure, (SETTINGS,), {}, ()),
    (rspamd.configure, (SETTINGS,), {rspamd.REDIS_MEMBERS: "redis:x:110:_rspamd"},
     (rspamd_svc.CONTROLLER_SECRET,)),
    (sieve.configure, (), {}, SVBINS),
    (guards.configure, (), {}, ()),
], ids=["resolver", "rspamd", "sieve", "guards"])
def test_a_second_deploy_changes_nothing_and_asks_the_host_once(run_task, configure, args,
                                                                outputs, stat):
    facts = converged(run_task(configure, *args))
    facts["DebPackages"] = PACKAGES
    facts["HostState"]["units"] = {u: ("active", "enabled") for u in (
        "unbound.service", "redis-server.service", "rspamd.service")}
    facts["HostState"]["outputs"] = outputs
    for path in stat:
        facts["HostState"]["files"][path] = ("regular file", 0o640, "root", "_rspamd", None)
    again = run_task(configure, *args, facts=facts)
    assert again.commands() == []
    # No file, link, user or service facts of their own: the one-pass read answers all.
    assert set(again.reads) <= {"DebPackages", "HostState"}
    assert again.reads.count("HostState") == 1
