"""The inventory's ``delivery_log`` key: defaults, and bad values named before anything runs."""

from __future__ import annotations

import pytest

from mailops.inventory import SettingsError, parse_mail_settings

BASE = {"hostname": "mx1.example.com", "domains": {"example.com": {}}}


def test_defaults_keep_a_month_and_no_subjects():
    log = parse_mail_settings(BASE).delivery_log
    assert (log.retention_days, log.subjects) == (30, False)


@pytest.mark.parametrize("value,message", [
    ({"retention_days": 0}, "mailops.delivery_log.retention_days: found int 0; expected a "
                            "whole number from 1 to 3650"),
    ({"subjects": "yes"}, "mailops.delivery_log.subjects: found 'yes'; expected True or False"),
    ({"subject": True}, "mailops.delivery_log.subject: found an unknown key; expected one of "
                        "retention_days, subjects"),
])
def test_bad_values_name_the_key_what_was_found_and_what_is_expected(value, message):
    with pytest.raises(SettingsError) as e:
        parse_mail_settings({**BASE, "delivery_log": value})
    assert message in str(e.value)
