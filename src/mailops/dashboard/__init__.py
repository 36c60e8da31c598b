"""`mailops dashboard`: a local web page over the mail hosts (server.py and its views).

Bound to 127.0.0.1, opened with a per-run token (auth.py); every figure comes from the
modules the other commands use (sources.py), through the same host access.
"""
