"""Bad input on the dashboard's forms: a message naming the field, what was found and
what was expected — and nothing asked of a host."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailops.dashboard import messages, sendtest
from mailops.dashboard.sources import Sources
from mailops.dashboard.web import Request
from mailops.inventory import load_inventory

INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "prod.py"


class NoHosts(Sources):
    """The example inventory's model; any attempt to reach one of its hosts fails the test."""

    def on_hosts(self, fn, *args, **kwargs):
        pytest.fail(f"a host was asked ({fn}) for input that should have been refused")


@pytest.fixture
def sources():
    s = NoHosts(INVENTORY, load_inventory(INVENTORY))
    yield s
    s.worker.shutdown()


def request(sources, query=None, form=None, method="GET", path="/messages") -> Request:
    return Request(method, path, query or {}, form or {}, "csrf", sources,
                   sendtest.Jobs(sources))


def test_message_filters_pass_what_mailops_messages_takes(sources):
    wanted, errors = messages.filters(request(sources, {
        "since": "2026-05-01T12:00+02:00", "from": "Alice@Example.com", "to": "@example.net",
        "state": "bounced", "limit": "50"}))
    assert errors == {}
    assert wanted == {"since": "2026-05-01T12:00+02:00", "sender": "alice@example.com",
                      "recipient": "@example.net", "state": "bounced", "limit": 50}
    assert messages.filters(request(sources, {"since": "7d"}))[0]["since"] == "7d"


def test_bad_message_filters_name_the_field_what_was_found_and_what_is_expected(sources):
    _, errors = messages.filters(request(sources, {
        "since": "yesterday", "to": "bob", "state": "lost", "limit": "0"}))
    assert errors["since"].startswith("found 'yesterday'; expected a date-time such as")
    assert errors["to"] == "found 'bob'; expected an address such as bob@example.com"
    assert errors["state"].startswith("found 'lost'; expected one of queued, deferred, sent")
    assert errors["limit"] == "found '0'; expected a whole number from 1 to 5000"


def test_a_bad_filter_is_shown_beside_the_form_and_nothing_is_fetched(sources):
    sources.messages = lambda **kw: pytest.fail("fetched with a bad filter")
    page = messages.view(request(sources, {"to": "bob", "days": "400"})).body.decode()
    assert 'data-field="to"' in page and "found &#39;bob&#39;" in page
    assert 'data-field="days"' in page


@pytest.mark.parametrize(("form", "field", "text"), [
    ({"address": "not an address"}, "address", "found &#39;not an address&#39;; expected an "
                                               "address such as bob@example.com"),
    ({"address": "bob@example.net", "from": "someone@elsewhere.example"}, "from",
     "expected an address of a hosted domain (example.com, example.org), or nothing"),
])
def test_the_send_test_form_refuses_bad_addresses_before_anything_is_sent(sources, form,
                                                                         field, text):
    response = sendtest.start(request(sources, form=form, method="POST", path="/send-test"))
    assert response.status == 400
    page = response.body.decode()
    assert f'data-field="{field}"' in page and text in page
