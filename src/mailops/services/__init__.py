"""What each service on the mail host is given: paths, table entries, template variables.

One module per service, named after it and used by the task of the same name
(``tasks/<service>.py``), which renders ``templates/<service>/*.j2`` with the
context built here. Everything is a pure function of the validated inventory
(:mod:`mailops.inventory`), unit-tested without a host. :mod:`.paths` holds the
layout the services share; :mod:`.render` renders templates exactly as the
deploy does.
"""
