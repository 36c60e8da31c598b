"""Suite-wide wiring: tests that take the lab away run after every other test."""


def pytest_collection_modifyitems(config, items):
    last = [i for i in items if i.get_closest_marker("lab_last")]
    items[:] = [i for i in items if not i.get_closest_marker("lab_last")] + last
