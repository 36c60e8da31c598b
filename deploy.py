"""Converge a mail host: `pyinfra inventories/<name>.py deploy.py`.

Thin on purpose: take the inventory pyinfra loaded — validated once, when the
inventory file ran (mailops.inventory.check_here) — then run each service's task
in dependency order (TLS before the daemons that use it; Dovecot before Postfix,
which hands it mail and authentication; OpenDKIM before Postfix, which calls it
as a milter).
"""

from pyinfra import host, inventory

from mailops.dkim.plan import SIGN_WITH_DATA, signing_plan
from mailops.inventory import for_deploy
from mailops.services import release
from tasks import (
    base,
    bounce,
    delivery_log,
    dovecot,
    guards,
    milter_watchdog,
    mta_sts,
    opendkim,
    postfix,
    relay,
    resolver,
    rspamd,
    sieve,
    tls,
)
from tasks.status_mail import configure as configure_status_mail

mail = for_deploy(inventory)
settings = mail.host(host.name).settings
# Debian 12 or 13, read from the host; anything else stops here, before any change.
release.of_host()
# Which key each domain signs with, read from the keystore once (never written); a
# rotation names its key with `--data mailops_dkim_sign_with=<domain>=<selector>`.
dkim_plan = signing_plan(settings, override=host.data.get(SIGN_WITH_DATA))
# Relay credentials come from the environment: a missing one stops here, before any
# operation, naming the variable.
relay.require_credentials(settings)

base.configure(settings)
guards.configure()  # journal size caps before the services that log
# The host's own resolver before anything that looks names up through it.
resolver.configure(settings)
tls.configure(settings)
# MTA-STS before Postfix: main.cf asks its resolver before every delivery.
mta_sts.configure(settings, mail.settings)
dovecot.configure(settings)
# After dovecot.conf: sievec compiles with the extensions it enables (imapsieve, pipe).
sieve.configure()
opendkim.configure(settings, dkim_plan)
bounce.configure(settings)  # before Postfix, whose config names its user, hook and DB
# A hung OpenDKIM (socket open, no answers) is restarted by a timer; its probe is the
# host package's milter client, which bounce.configure installs.
milter_watchdog.configure(settings, dkim_plan)
# The delivery log is the host package's service too (and reads what Postfix logs).
delivery_log.configure(settings)
relay.configure(settings)  # before Postfix, whose relay services read its files
# rspamd (and its Redis) before Postfix, whose port-25 smtpd calls it as a milter.
rspamd.configure(settings)
postfix.configure(settings)
# Last: the status mail watches every unit the tasks above keep running.
configure_status_mail(settings)
