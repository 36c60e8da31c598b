"""`mailops dashboard` in a real browser against the lab: Debian's Chromium, driven by
Playwright (no browser is downloaded; ``executable_path`` is the system's).

The dashboard runs as an operator starts it (`mailops dashboard -i inventories/lab.py`,
the URL read from what it prints); the browser only clicks what a person would. Each
test saves a screenshot under the session's artifacts directory (printed).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from labtools import REPO, on
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.lab

MAILOPS = str(Path(sys.executable).with_name("mailops"))
CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that phones home: tests talk only to loopback and the lab.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SEND_TEST_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def dashboard(lab_dns, lab_env):
    """The URL `mailops dashboard` printed (token included); stopped after the module."""
    proc = subprocess.Popen([MAILOPS, "dashboard", "-i", "inventories/lab.py", "--port", "0",
                             "--relay-probe-to", "postmaster@remote.test"],
                            cwd=REPO, env=lab_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
    if not found:
        proc.kill()
        pytest.fail(f"no URL printed: {line}{proc.stderr.read()}")
    yield found.group(0)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dashboard-artifacts")
    print(f"dashboard screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"found no {CHROMIUM}; expected Debian's chromium package "
                    "(`apt-get install chromium`, as .ci/setup does)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, dashboard, artifacts, request):
    """A fresh browser context that opened the printed URL (token -> cookie), and a
    screenshot of wherever the test left it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    asked, complaints = [], []
    page.on("request", lambda r: asked.append(r.url))
    # A CSP violation, a failed stylesheet, a missing icon: the console says so.
    page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    page.goto(dashboard)
    assert "token=" not in page.url  # exchanged for the session cookie, then stripped
    yield page
    shot = artifacts / f"{request.node.name}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    context.close()
    # Works offline: everything the pages needed came from the dashboard itself.
    here = dashboard.split("/?")[0] + "/"
    assert [u for u in asked if not u.startswith((here, "data:"))] == []
    assert complaints == []


def base(page) -> str:
    return re.match(r"http://127\.0\.0\.1:\d+", page.url).group(0)


def send_test(page, address: str) -> dict[str, str]:
    """Fill the form, send, wait for the outcome; the result as the page shows it."""
    page.goto(base(page) + "/send-test")
    page.fill("input[name=address]", address)
    page.click("button[type=submit]")
    page.wait_for_selector('#job[data-done="yes"]', timeout=SEND_TEST_TIMEOUT_MS)
    assert page.locator("#result-error").count() == 0, page.inner_text("#job")
    terms = page.locator("#result dt").all_inner_texts()
    values = page.locator("#result dd").all_inner_texts()
    return dict(zip(terms, values, strict=True))


def mailops(lab_env, *args: str) -> str:
    r = subprocess.run([MAILOPS, *args, "-i", "inventories/lab.py"], cwd=REPO, env=lab_env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


# --------------------------------------------------------------------------- overview


def test_the_overview_shows_every_lab_domain_and_the_host_with_a_check_mark(page):
    rows = page.locator("tr.subject")
    subjects = dict(zip(rows.evaluate_all("rs => rs.map(r => r.dataset.subject)"),
                        page.locator("tr.subject td.symbol").all_inner_texts(), strict=True))
    assert subjects == {"example.test": "✓", "tenant2.test": "✓",
                        "host mx1.example.test": "✓"}, page.inner_text("#posture")
    # Each domain signs with an active key, and the lab's DNS holds every record.
    for domain in ("example.test", "tenant2.test"):
        assert page.locator(f'#dkim tr[data-domain="{domain}"][data-state="active"]').count() == 1
    assert page.locator("#dns .ok-line").count() == 2
    assert page.locator("#dns table.changes").count() == 0


# --------------------------------------------------------------------------- delivery log


def test_a_send_test_from_the_form_to_bob_appears_as_delivered(page):
    result = send_test(page, "bob@example.test")
    assert result["state"] == "delivered", result
    page.goto(base(page) + "/messages?to=bob%40example.test")
    row = page.locator('#messages tr[data-recipient="bob@example.test"]').first
    assert row.get_attribute("data-state") == "delivered"
    row.locator("a", has_text="timeline").click()
    assert page.locator("#timeline li").count() >= 2  # received, then delivered
    assert "delivered" in page.locator("#timeline").inner_text()


def test_a_message_to_a_refused_address_appears_as_bounced_with_the_remotes_reply(page):
    address = f"refused-{uuid.uuid4().hex[:8]}@remote.test"
    words = "no such user here (lab refusal)"
    on("remote", f"echo '{address} REJECT 5.1.1 {words}' >> /etc/postfix/refuse && "
                 "postfix reload >/dev/null 2>&1")
    result = send_test(page, address)
    assert result["state"] == "bounced", result
    assert words in result["reply"] and "5.1.1" in result["reply"], result
    page.goto(base(page) + "/messages?to=" + address.replace("@", "%40"))
    row = page.locator(f'#messages tr[data-recipient="{address}"]').first
    assert row.get_attribute("data-state") == "bounced"
    assert words in row.locator("td.reply").inner_text()


def test_the_charts_have_a_bar_per_hour_and_a_point_per_day_counting_the_mail(page):
    assert send_test(page, "bob@example.test")["state"] == "delivered"
    page.goto(base(page) + "/messages?days=2")
    bars = page.locator("#chart-per-hour g.bar")
    assert bars.count() == 48
    assert page.locator("#chart-per-hour").get_attribute("data-points") == "48"
    for series in ("bounce rate", "deferral rate"):
        line = page.locator(f'#chart-rates g.line[data-series="{series}"]')
        assert line.locator("circle").count() == 2
        assert len(line.locator("polyline").get_attribute("points").split()) == 2
    # The last hours hold the mail just sent (the hour may have turned since).
    recent = [bars.nth(46), bars.nth(47)]
    assert sum(b.locator('rect[data-state="delivered"]').count() for b in recent) >= 1
    # One count, two charts: today's bars add up to today's point.
    hours = bars.evaluate_all("bs => bs.map(b => [b.dataset.hour, +b.dataset.total])")
    today = page.locator("#chart-rates circle").last
    day = today.get_attribute("data-day")
    assert sum(total for hour, total in hours if hour.startswith(day)) == int(
        today.get_attribute("data-total")) >= 1


# --------------------------------------------------------------------------- queue


def test_mail_remote_does_not_take_waits_in_the_queue_with_the_reason(page):
    """`remote` down: the message stays in mx1's queue, deferred; the queue page shows it
    with Postfix's reason, and the messages page shows it deferred."""
    address = f"later-{uuid.uuid4().hex[:8]}@remote.test"
    on("remote", "systemctl stop postfix")
    try:
        on("mx1", f"printf 'Subject: later\\n\\nlater\\n' | "
                  f"/usr/sbin/sendmail -f alice@example.test {address}")
        row = page.locator(f'#messages tr[data-recipient="{address}"][data-state="deferred"]')
        for _ in range(30):
            page.goto(base(page) + "/messages?state=deferred")
            if row.count():
                break
            page.wait_for_timeout(2000)
        assert row.count() == 1, page.inner_text("#messages")
        page.goto(base(page) + "/queue")
        queued = page.locator("section[data-host='mx1.example.test'] tr", has_text=address)
        assert queued.count() == 1
        assert "deferred" in queued.inner_text()
        assert "Connection refused" in queued.locator("td.reply").inner_text()
    finally:
        on("remote", "systemctl start postfix")
        on("mx1", "postqueue -f")


# --------------------------------------------------------------------------- suppression


def test_removing_an_address_from_suppression_asks_then_lifts_it_on_the_host(page, lab_env):
    address = f"lifted-{uuid.uuid4().hex[:8]}@remote.test"
    mailops(lab_env, "suppression", "add", address, "--note", "dashboard test")
    page.goto(base(page) + "/bounces")
    row = page.locator(f'#suppression tr[data-address="{address}"]')
    assert "dashboard test" in row.inner_text()
    row.locator("button", has_text="Remove").click()
    # The question first: nothing is removed yet.
    assert page.locator("#confirm").is_visible()
    listed = {r["address"] for r in json.loads(mailops(lab_env, "suppression", "list",
                                                       "--json"))}
    assert address in listed
    page.click("#confirm")
    assert address in page.inner_text("#removed")
    assert page.locator(f'#suppression tr[data-address="{address}"]').count() == 0
    listed = {r["address"] for r in json.loads(mailops(lab_env, "suppression", "list",
                                                       "--json"))}
    assert address not in listed
