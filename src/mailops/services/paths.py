"""The on-host layout several services share, and the error for a config they cannot take."""

from __future__ import annotations

POSTFIX_DIR = "/etc/postfix"
POSTFIX_MAPS_DIR = "/etc/postfix/maps"
POSTFIX_SPOOL = "/var/spool/postfix"  # queue_directory; chrooted daemons see it as "/"
# Unix sockets inside the Postfix spool, named relative to it: Postfix daemons chdir to
# $queue_directory (and chroot there when master.cf says so), so a relative name works
# for chrooted and unchrooted daemons alike (postconf(5): "Pathname interpretation is
# relative to the Postfix queue directory"). Dovecot and OpenDKIM create them.
LMTP_SOCKET = "private/dovecot-lmtp"
AUTH_SOCKET = "private/auth"
QUOTA_STATUS_SOCKET = "private/quota-status"
OPENDKIM_SOCKET_DIR = "opendkim"
OPENDKIM_SOCKET = f"{OPENDKIM_SOCKET_DIR}/opendkim.sock"


class MailhostError(ValueError):
    """Valid settings that still cannot be turned into a safe host configuration."""
