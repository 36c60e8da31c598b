"""Converge a mail host: `pyinfra inventories/<name>.py deploy.py`.

Thin on purpose: read the typed settings, then run each service's task in
dependency order (TLS before the daemons that use it; Dovecot before Postfix,
which hands it mail and authentication; OpenDKIM before Postfix, which calls
it as a milter).
"""

from pyinfra import host

from mailops.services import release
from mailops.settings import parse_mail_settings
from tasks import base, bounce, dovecot, mta_sts, opendkim, postfix, tls

settings = parse_mail_settings(host.data.get("mailops"), source=f"host {host.name}")
# Debian 12 or 13, read from the host; anything else stops here, before any change.
release.of_host()

base.configure(settings)
tls.configure(settings)
# MTA-STS before Postfix: main.cf asks its resolver before every delivery (issue 7).
mta_sts.configure(settings)
dovecot.configure(settings)
opendkim.configure(settings)
bounce.configure(settings)  # before Postfix, whose config names its user, hook and DB
postfix.configure(settings)
