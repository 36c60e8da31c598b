"""The dashboard's charts: delivery-log rows in, one bar per hour and one point per day out."""

from __future__ import annotations

import datetime as dt

from mailops.dashboard import charts
from mailops.delivery.fetch import STATES

NOW = dt.datetime(2026, 5, 3, 14, 25, tzinfo=dt.UTC)


def row(state: str, when: dt.datetime, attempts: int = 1) -> dict:
    return {"state": state, "last_us": int(when.timestamp() * 1_000_000),
            "attempts": attempts}


def test_per_hour_has_one_bar_per_hour_of_the_window_ending_with_the_current_hour():
    chart = charts.per_hour([], NOW, 3)
    assert len(chart.bars) == 72
    assert chart.bars[-1].start == dt.datetime(2026, 5, 3, 14, tzinfo=dt.UTC)
    assert chart.bars[0].start == dt.datetime(2026, 4, 30, 15, tzinfo=dt.UTC)
    assert all(b.total == 0 and not b.segments for b in chart.bars)


def test_per_hour_counts_each_state_in_its_hour_and_drops_rows_outside_the_window():
    rows = [row("delivered", NOW), row("delivered", NOW - dt.timedelta(minutes=20)),
            row("bounced", NOW), row("deferred", NOW - dt.timedelta(hours=1)),
            row("sent", NOW - dt.timedelta(days=5)), row("whatever", NOW),
            {"state": "delivered", "last_us": None}]
    chart = charts.per_hour(rows, NOW, 1)
    assert chart.bars[-1].counts == {"delivered": 2, "bounced": 1, "other": 1}
    assert chart.bars[-2].counts == {"deferred": 1}
    assert sum(b.total for b in chart.bars) == 5
    assert chart.y_max == 4
    # Stacked: the tallest bar fills the plot, its segments touch, good states at the bottom.
    last = chart.bars[-1].segments
    assert [s.state for s in last] == ["delivered", "bounced", "other"]
    assert round(last[-1].y, 1) == charts.PAD_TOP
    assert all(abs((a.y - b.height) - b.y) < 0.05 for a, b in zip(last, last[1:], strict=False))
    assert chart.states == ("delivered", "deferred", "bounced", "other")
    assert chart.bars[-1].title == "2026-05-03 14:00 UTC: 2 delivered, 1 bounced, 1 other"


def test_rates_have_one_point_per_day_in_percent_of_that_days_messages():
    day = dt.timedelta(days=1)
    rows = [row("delivered", NOW), row("bounced", NOW), row("rejected", NOW),
            row("delivered", NOW, attempts=3), row("deferred", NOW - day),
            row("delivered", NOW - day)]
    chart = charts.rates(rows, NOW, 7)
    bounce, deferral = chart.lines["bounce rate"], chart.lines["deferral rate"]
    assert len(bounce) == len(deferral) == 7
    assert bounce[-1].day == NOW.date() and (bounce[-1].count, bounce[-1].total) == (2, 4)
    assert bounce[-1].rate == 0.5 and deferral[-1].rate == 0.25
    assert deferral[-2].rate == 0.5 and bounce[-2].rate == 0
    assert bounce[0].rate == 0 and bounce[0].total == 0  # a day without mail: 0 %, not a gap
    assert len(chart.polyline("bounce rate").split()) == 7


def test_times_are_read_as_microseconds_or_iso_8601():
    when = dt.datetime(2026, 5, 3, 12, 0, 5, tzinfo=dt.UTC)
    assert charts.row_time({"last_us": 1777809605000000}) == when
    assert charts.row_time({"updated_at": "2026-05-03T12:00:05Z"}) == when
    assert charts.row_time({"updated_at": "2026-05-03T14:00:05+02:00"}) == when
    assert charts.row_time({"updated_at": "yesterday"}) is None


def test_every_state_of_the_delivery_log_has_its_own_place_in_the_stack():
    assert set(charts.STATES) - {"other"} == set(STATES)


def test_the_count_axis_ends_on_a_round_number_so_every_tick_is_whole():
    assert [charts.nice_top(n) for n in (0, 4, 5, 9, 21, 150)] == [4, 4, 8, 20, 40, 200]
    chart = charts.per_hour([row("delivered", NOW)] * 7, NOW, 1)
    assert [label for _, label in charts.y_ticks(chart)] == ["0", "2", "4", "6", "8"]
