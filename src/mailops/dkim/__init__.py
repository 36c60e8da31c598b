"""DKIM in one package.

keys (key material, TXT values) · selectors · keystore (keys and their history) ·
plan (which key each domain signs with on a host; the records DNS must publish) ·
rotation (the steps, one list for dry and real runs) and report (what they say) ·
ports (what the steps do outside the keystore) · steps (the real deploy and key
removal on the hosts) · probe and milter (have the running OpenDKIM sign, verify).
"""
