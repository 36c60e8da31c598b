"""The per-message delivery log: the mail journal, one row per message and recipient.

Runs on the mail host as ``mailops-delivery-log.service`` (tasks/delivery_log.py), the
standard library only:

- :mod:`.parse` — one journal entry (Postfix, OpenDKIM, Dovecot LMTP/Sieve, rspamd)
  -> the fact it states, or nothing;
- :mod:`.store` — the SQLite database (WAL): messages, one delivery per recipient,
  the timeline of events, and the journal cursor, written in one transaction;
- :mod:`.index` — each fact applied to those tables;
- :mod:`.follow` — the service: ``journalctl --follow`` from the stored cursor,
  indexed in batches, old rows pruned;
- :mod:`.query` — ``python3 -S -m mailops_host messages|trace`` (what ``mailops
  messages``, ``mailops trace``, ``mailops send-test`` and the dashboard ask).
"""
