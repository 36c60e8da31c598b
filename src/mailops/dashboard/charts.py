"""Charts of the delivery log, computed here and drawn as inline SVG by the templates.

Pure functions: delivery-log rows (mailops.delivery.fetch.messages) in, the geometry of
each chart out — one bar per hour, one point per day — so what a chart shows is
plain markup a test (or a screen reader, through each element's <title>) can count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# The states of the delivery log, in stacking order (good at the bottom); anything
# else a future log writes is counted as "other" rather than dropped.
STATES = ("delivered", "sent", "queued", "deferred", "bounced", "rejected", "discarded",
          "other")
BOUNCED = {"bounced", "rejected"}
# A row "was deferred" when its state says so or it needed more than one attempt.
DEFERRED = {"deferred"}
# When a row last changed, by the first of these fields it has (ISO 8601 UTC in the
# rows of mailops.delivery.fetch: ``updated_at`` of a message row, ``time`` of a trace
# event), or microseconds since the epoch (``*_us``, the journal's own clock).
TIME_FIELDS = ("updated_at", "time", "queued_at", "last_us")

WIDTH, HEIGHT = 720.0, 180.0  # the SVG viewBox; the stylesheet scales it to the page
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 36.0, 20.0, 8.0


def parse_time(value: object) -> dt.datetime | None:
    """A row's timestamp (ISO 8601 text, possibly with Z, or Unix seconds) in UTC."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def row_time(row: Mapping) -> dt.datetime | None:
    for name in TIME_FIELDS:
        value = row.get(name)
        if name.endswith("_us") and isinstance(value, int | float):
            value = value / 1e6
        when = parse_time(value)
        if when is not None:
            return when
    return None


def state_of(row: Mapping) -> str:
    state = str(row.get("state") or "").lower()
    return state if state in STATES else "other"


@dataclass(frozen=True)
class Segment:
    state: str
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    start: dt.datetime
    x: float
    width: float
    counts: dict[str, int]
    segments: tuple[Segment, ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def title(self) -> str:
        what = ", ".join(f"{n} {s}" for s, n in self.counts.items() if n) or "no messages"
        return f"{self.start:%Y-%m-%d %H:00} UTC: {what}"


@dataclass(frozen=True)
class Point:
    day: dt.date
    x: float
    y: float
    rate: float  # 0..1
    count: int
    total: int


@dataclass
class Chart:
    """What a template draws: bars (per hour) or lines of points (per day)."""

    bars: list[Bar] = field(default_factory=list)
    lines: dict[str, list[Point]] = field(default_factory=dict)
    y_max: float = 0.0
    y_label: str = ""
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    states: tuple[str, ...] = ()

    @property
    def width(self) -> float:
        return WIDTH

    @property
    def height(self) -> float:
        return HEIGHT

    @property
    def plot_bottom(self) -> float:
        return HEIGHT - PAD_BOTTOM

    def polyline(self, name: str) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.lines.get(name, []))


TICKS = 4  # the vertical axis is labelled at 0 and at four equal steps


def nice_top(value: float) -> int:
    """The top of a count axis: the smallest 4 x (1, 2 or 5 x 10^k) that holds ``value``,
    so every tick is a whole, round number."""
    step = 1
    while step * TICKS < value:
        for factor in (2, 2.5, 2):  # 1 -> 2 -> 5 -> 10 -> 20 ...
            step = int(step * factor)
            if step * TICKS >= value:
                break
    return step * TICKS


def _hour(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def _scale(value: float, top: float) -> float:
    """Height in the plot area for ``value`` of ``top``."""
    span = HEIGHT - PAD_BOTTOM - PAD_TOP
    return 0.0 if top <= 0 else span * value / top


def per_hour(rows: Iterable[Mapping], now: dt.datetime, days: int) -> Chart:
    """Messages per hour by state over the last ``days`` days: ``days * 24`` bars, the
    last one the current hour; rows outside the window are not counted."""
    hours = days * 24
    first = _hour(now) - dt.timedelta(hours=hours - 1)
    counts = [dict.fromkeys(STATES, 0) for _ in range(hours)]
    for row in rows:
        when = row_time(row)
        if when is None:
            continue
        i = int((_hour(when) - first).total_seconds() // 3600)
        if 0 <= i < hours:
            counts[i][state_of(row)] += 1
    top = nice_top(max((sum(c.values()) for c in counts), default=0))
    step = (WIDTH - PAD_LEFT) / hours
    bars = []
    for i, c in enumerate(counts):
        y = HEIGHT - PAD_BOTTOM
        segments = []
        for state in STATES:
            if c[state]:
                h = _scale(c[state], top)
                y -= h
                segments.append(Segment(state, c[state], round(y, 2), round(h, 2)))
        bars.append(Bar(first + dt.timedelta(hours=i), PAD_LEFT + i * step,
                        max(step - 1, 0.5), {s: n for s, n in c.items() if n},
                        tuple(segments)))
    labels = [(PAD_LEFT + i * step, f"{(first + dt.timedelta(hours=i)):%d %b}")
              for i in range(hours) if (first + dt.timedelta(hours=i)).hour == 0]
    used = tuple(s for s in STATES if any(b.counts.get(s) for b in bars))
    return Chart(bars=bars, y_max=top, y_label="messages", x_labels=labels, states=used)


def rates(rows: Iterable[Mapping], now: dt.datetime, days: int) -> Chart:
    """Bounce rate and deferral rate per day over the last ``days`` days: two lines of
    ``days`` points each, in percent of that day's messages."""
    first = now.date() - dt.timedelta(days=days - 1)
    totals = [0] * days
    hit = {"bounce rate": [0] * days, "deferral rate": [0] * days}
    for row in rows:
        when = row_time(row)
        if when is None:
            continue
        i = (when.date() - first).days
        if not 0 <= i < days:
            continue
        totals[i] += 1
        if state_of(row) in BOUNCED:
            hit["bounce rate"][i] += 1
        if state_of(row) in DEFERRED or _attempts(row) > 1:
            hit["deferral rate"][i] += 1
    step = (WIDTH - PAD_LEFT) / days
    lines: dict[str, list[Point]] = {}
    for name, counts in hit.items():
        points = []
        for i, n in enumerate(counts):
            rate = n / totals[i] if totals[i] else 0.0
            points.append(Point(first + dt.timedelta(days=i), PAD_LEFT + (i + 0.5) * step,
                                round(HEIGHT - PAD_BOTTOM - _scale(rate, 1.0), 2), rate, n,
                                totals[i]))
        lines[name] = points
    labels = [(PAD_LEFT + (i + 0.5) * step, f"{(first + dt.timedelta(days=i)):%d %b}")
              for i in range(days)]
    return Chart(lines=lines, y_max=100.0, y_label="% of messages", x_labels=labels)


def _attempts(row: Mapping) -> int:
    try:
        return int(row.get("attempts") or 0)
    except (TypeError, ValueError):
        return 0


def y_ticks(chart: Chart) -> Sequence[tuple[float, str]]:
    """(y, label) for the vertical axis: 0 and TICKS equal steps up to the top."""
    out = []
    for i in range(TICKS + 1):
        value = chart.y_max * i / TICKS
        label = f"{value:g}"
        out.append((round(HEIGHT - PAD_BOTTOM - _scale(value, chart.y_max), 2), label))
    return out
