"""tasks/resolver.py, tasks/rspamd.py, tasks/sieve.py: whole files, gates before restarts,
resolv.conf only after the resolver answers, the controller secret made on the host."""

from __future__ import annotations

from mailops.inventory import parse_mail_settings
from mailops.services import resolver as resolver_svc
from mailops.services import rspamd as rspamd_svc
from tasks import resolver, rspamd, sieve

SETTINGS = parse_mail_settings({"hostname": "mx1.example.test",
                                "domains": {"example.test": {}}})


def test_resolv_conf_points_at_unbound_only_after_a_checked_restart(run_task):
    run = run_task(resolver.configure, SETTINGS)
    names = run.names()
    order = [next(i for i, n in enumerate(names) if fragment in n) for fragment in (
        "unbound-checkconf", "Restart unbound", "unbound answers", "Render /etc/resolv.conf")]
    assert order == sorted(order), names
    assert "nameserver 127.0.0.1" in run.upload(resolver_svc.RESOLV_CONF)


def test_rspamd_files_are_checked_before_the_restart_and_the_secret_is_made_on_the_host(
        run_task):
    run = run_task(rspamd.configure, SETTINGS)
    for name in rspamd_svc.LOCAL_FILES:
        assert f"upload {rspamd_svc.RSPAMD_LOCAL_D}/{name}" in run.commands()
    names = run.names()
    assert names.index("rspamd and Redis | Check the rspamd configuration (rspamadm configtest)") \
        < names.index("rspamd and Redis | Restart rspamd (configuration or Redis changed)")
    # The deploy ends only once the restarted rspamd's milter listens (it loads for
    # half a minute; meanwhile Postfix tempfails port-25 mail).
    assert names.index("rspamd and Redis | Restart rspamd (configuration or Redis changed)") \
        < names.index("rspamd and Redis | rspamd's milter answers on inet:127.0.0.1:11332")
    (wait,) = [c for c in run.commands() if "/dev/tcp/127.0.0.1/11332" in c]
    assert "exit 1" in wait  # a rspamd that never listens fails the deploy
    (secret,) = [c for c in run.commands() if "controller-secret" in c]
    assert "/dev/urandom" in secret and "rspamadm pw" in secret  # no password in the repo
    assert "port 0" in run.upload(rspamd_svc.REDIS_CONF)


def test_a_host_with_the_secret_and_group_does_not_remake_them(run_task):
    run = run_task(rspamd.configure, SETTINGS, facts={
        "File": {rspamd_svc.CONTROLLER_SECRET: {"mode": 640}},
        "Users": {"_rspamd": {"groups": ["redis"]}}})
    assert not [n for n in run.names() if "controller password" in n or "group redis" in n]


def test_sieve_scripts_are_compiled(run_task):
    run = run_task(sieve.configure)
    assert [c for c in run.commands() if c.startswith("sievec ")] == [
        "sievec /etc/dovecot/sieve/spam-to-junk.sieve",
        "sievec /etc/dovecot/sieve/learn-spam.sieve",
        "sievec /etc/dovecot/sieve/learn-ham.sieve"]
