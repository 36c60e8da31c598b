"""DKIM in one package.

keys (key material, TXT values) · selectors · keystore (keys and their history;
keyfiles: the layout on disk, keyhistory: the journal replayed) ·
plan (which key each domain signs with on a host; the records DNS must publish) ·
rotation (the machine; transitions: the steps, one list for dry and real runs;
turn: the domain's policy and what the steps share) and report (what they say) ·
ports (what the steps do outside the keystore) · steps (the real deploy and key
removal on the hosts) · probe and milter (have the running OpenDKIM sign, verify).
"""
