"""Suite-wide wiring: tests that change the lab for good run after every other test.

Order: everything else; then `upgrade` (mx1 becomes another Debian release); then
`lab_last` (takes the lab away).
"""


def pytest_collection_modifyitems(config, items):
    last = [i for i in items if i.get_closest_marker("lab_last")]
    upgrade = [i for i in items if i.get_closest_marker("upgrade") and i not in last]
    items[:] = [i for i in items if i not in last and i not in upgrade] + upgrade + last
