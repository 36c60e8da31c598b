"""tasks/mta_sts.py: one policy file per policy domain, served by nginx over HTTPS."""

from __future__ import annotations

from mailops.inventory import parse_mail_settings
from mailops.services import mta_sts as svc
from tasks import mta_sts

DNS = {"provider": "rfc2136", "server": "192.0.2.53"}


def inventory(name: str, tls: str = "self-signed"):
    return parse_mail_settings({
        "hostname": name, "ipv6": ["2001:db8::25"], "tls": {"mode": tls},
        "domains": {"example.test": {"dns": DNS, "mta_sts": {"mode": "enforce"}},
                    "quiet.test": {"dns": DNS, "mta_sts": {"mode": "none"}},
                    **{f"t{i:03d}.test": {"dns": DNS} for i in range(120)}}})


def test_each_policy_lists_every_host_of_the_inventory_serving_the_domain(run_task):
    mx1, mx2 = inventory("mx1.example.test"), inventory("mx2.example.test")
    run = run_task(mta_sts.configure, mx1, [mx1, mx2])
    policy = run.upload(f"{svc.MTA_STS_DIR}/example.test.txt")
    assert policy.splitlines()[:4] == ["version: STSv1", "mode: enforce",
                                       "mx: mx1.example.test", "mx: mx2.example.test"]
    assert f"upload {svc.MTA_STS_DIR}/quiet.test.txt" not in run.commands()


def test_nginx_picks_each_policy_hosts_certificate_by_name_and_nothing_serves_port_80(
        run_task):
    mx1 = inventory("mx1.example.test", tls="acme")
    debian_default = {"link_target": "/etc/nginx/sites-available/default", "user": "root",
                      "group": "root", "mode": 777}
    run = run_task(mta_sts.configure, mx1, [mx1],
                   facts={"Link": {"/etc/nginx/sites-enabled/default": debian_default}})
    site = run.upload(svc.NGINX_SITE)
    block = site[site.index("server_name mta-sts.t119.test;"):]
    assert block.splitlines()[2].strip() == \
        "ssl_certificate /etc/mailops/tls/mailops-2/fullchain.pem;"
    assert "listen [::]:443 ssl;" in site and "listen 80" not in site
    assert run.op("Remove nginx's default site").commands == \
        ["rm -f /etc/nginx/sites-enabled/default"]
    assert "nginx -t -q" in run.commands()
