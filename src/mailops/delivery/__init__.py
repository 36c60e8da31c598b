"""The delivery log, from the operator's machine: fetch rows and timelines from every
host (:mod:`.fetch`), send a test message and wait for its outcome (:mod:`.sendtest`)."""
