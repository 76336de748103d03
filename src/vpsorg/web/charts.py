"""Line charts as inline SVG, drawn on the server: no script, no chart library.

The panel's Content-Security-Policy allows no inline style, so the chart has none: its
colours and sizes are SVG presentation attributes (which the stylesheet's rules override,
by the classes `chart`, `chart-axis`, `chart-grid`, `chart-label`, `chart-line`,
`chart-point`, `chart-empty`). For assistive technology the chart is one image
(`role="img"`) named by its `<title>` and described by its `<desc>`: the range and the
minimum, average, maximum and latest values. Pure: no I/O, nothing of FastAPI.
"""

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 12, 24
AXIS_COLOUR, GRID_COLOUR, LABEL_COLOUR, LINE_COLOUR = "#8c959f", "#d0d7de", "#4a5360", "#0b57d0"
FONT = 'font-size="11" font-family="system-ui, sans-serif"'
EMPTY = "No samples yet"
# Spacing of the time axis's ticks: the first that gives at most MAX_X_TICKS ticks.
TIME_STEPS = [timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 180, 360, 720)] + [
    timedelta(days=d) for d in (1, 2, 7, 14, 30)
]
MAX_X_TICKS = 5
Y_TICKS = 4
# A gap longer than this many times the median spacing breaks the line (no samples then).
GAP = 3.0


def line_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    title: str,
    unit: str,
    width: int = 600,
    height: int = 160,
    start: datetime | None = None,
    end: datetime | None = None,
    chart_id: str | None = None,
) -> Markup:
    """An accessible SVG line chart of (time, value) points (times in UTC; naive ones taken as
    UTC), over [start, end] when given (points outside are left out), else over the points'
    own span. `unit` is "percent" or a unit name ("MiB", "GB"). `chart_id` (default: derived
    from the content) prefixes the ids of its title and description: give each chart of a
    page its own."""
    data = sorted((_utc(t), float(v)) for t, v in points if math.isfinite(v))
    low_t, high_t = _time_range(data, start, end)
    data = [(t, v) for t, v in data if low_t <= t <= high_t]
    ident = chart_id or _ident(title, unit, data, width, height)
    ticks = _y_ticks([v for _, v in data])
    box = (PAD_LEFT, PAD_TOP, width - PAD_RIGHT, height - PAD_BOTTOM)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{escape(ident)}-title {escape(ident)}-desc">',
        f'<title id="{escape(ident)}-title">{escape(title)}</title>',
        f'<desc id="{escape(ident)}-desc">{escape(summary(data, unit))}</desc>',
    ]
    if data:
        parts += _y_axis(ticks, box, unit)
        parts += _x_axis(low_t, high_t, box)
        parts.append(_axes(box))
        parts += _series(data, low_t, high_t, ticks, box)
    else:
        parts.append(_axes(box))
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        parts.append(
            f'<text class="chart-empty chart-label" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
            f'fill="{LABEL_COLOUR}" {FONT}>{EMPTY}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def summary(data: Sequence[tuple[datetime, float]], unit: str) -> str:
    """The chart in words: its range and the minimum, average, maximum and latest values."""
    if not data:
        return f"{EMPTY}."
    values = [v for _, v in data]
    first, last = data[0][0], data[-1][0]
    return (
        f"{len(data)} {'point' if len(data) == 1 else 'points'} from {first:%Y-%m-%d %H:%M} to "
        f"{last:%Y-%m-%d %H:%M} UTC: minimum {with_unit(min(values), unit)}, average "
        f"{with_unit(sum(values) / len(values), unit)}, maximum {with_unit(max(values), unit)}, "
        f"latest {with_unit(values[-1], unit)}."
    )


def number(value: float) -> str:
    """A value as people read it: 1,234 / 56.7 / 8.25 / 0."""
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def with_unit(value: float, unit: str) -> str:
    return f"{number(value)}%" if unit == "percent" else f"{number(value)} {unit}"


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _ident(title: str, unit: str, data: Sequence[tuple[datetime, float]], width: int, height: int) -> str:
    digest = hashlib.sha1(repr((title, unit, data, width, height)).encode(), usedforsecurity=False)
    return f"chart-{digest.hexdigest()[:10]}"


def _time_range(
    data: Sequence[tuple[datetime, float]], start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    low = _utc(start) if start else data[0][0] if data else datetime.now(UTC) - timedelta(days=1)
    high = _utc(end) if end else data[-1][0] if data else low + timedelta(days=1)
    if high <= low:  # one point: it stands in the middle of a minute
        low, high = low - timedelta(seconds=30), low + timedelta(seconds=30)
    return low, high


def _y_ticks(values: Sequence[float]) -> list[float]:
    """Round values from at most 0 to at least the largest, about Y_TICKS steps apart."""
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1
    raw = (high - low) / Y_TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [k * step for k in range(first, last + 1)]


def _y_of(value: float, ticks: Sequence[float], box: tuple[float, float, float, float]) -> float:
    return box[3] - (value - ticks[0]) / (ticks[-1] - ticks[0]) * (box[3] - box[1])


def _x_of(t: datetime, low: datetime, high: datetime, box: tuple[float, float, float, float]) -> float:
    return box[0] + (t - low) / (high - low) * (box[2] - box[0])


def _axes(box: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = box
    return (
        f'<g class="chart-axis" stroke="{AXIS_COLOUR}" stroke-width="1">'
        f'<line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}"/><line x1="{x0}" x2="{x1}" y1="{y1}" y2="{y1}"/></g>'
    )


def _y_axis(ticks: Sequence[float], box: tuple[float, float, float, float], unit: str) -> list[str]:
    """A grid line and a label per tick."""
    ys = [_y_of(v, ticks, box) for v in ticks]
    parts = [f'<g class="chart-grid" stroke="{GRID_COLOUR}" stroke-width="1">']
    parts += [f'<line x1="{box[0]}" x2="{box[2]}" y1="{y:.1f}" y2="{y:.1f}"/>' for y in ys]
    parts.append("</g>")
    parts.append(f'<g class="chart-label" fill="{LABEL_COLOUR}" {FONT} text-anchor="end">')
    parts += [
        f'<text x="{box[0] - 6}" y="{y + 4:.1f}">{escape(with_unit(v, unit))}</text>'
        for v, y in zip(ticks, ys, strict=True)
    ]
    parts.append("</g>")
    return parts


def _x_axis(low: datetime, high: datetime, box: tuple[float, float, float, float]) -> list[str]:
    span = high - low
    step = next((s for s in TIME_STEPS if span / s <= MAX_X_TICKS), TIME_STEPS[-1])
    seconds = int(step.total_seconds())
    first = math.ceil(low.timestamp() / seconds) * seconds
    times = [datetime.fromtimestamp(t, UTC) for t in range(first, int(high.timestamp()) + 1, seconds)]
    hours = step < timedelta(days=1)
    parts = [f'<g class="chart-label" fill="{LABEL_COLOUR}" {FONT} text-anchor="middle">']
    parts += [
        f'<text x="{_x_of(t, low, high, box):.1f}" y="{box[3] + 16}">{_tick(t, hours)}</text>' for t in times
    ]
    parts.append("</g>")
    return parts


def _tick(t: datetime, hours: bool) -> str:
    """A time axis label: 18:00, or Dec 7."""
    return f"{t:%H:%M}" if hours else f"{t:%b} {t.day}"


def _series(
    data: Sequence[tuple[datetime, float]],
    low: datetime,
    high: datetime,
    ticks: Sequence[float],
    box: tuple[float, float, float, float],
) -> list[str]:
    """The line (broken where samples are missing) and a dot on the latest point."""
    xy = [(_x_of(t, low, high, box), _y_of(v, ticks, box)) for t, v in data]
    parts = []
    for run in _runs(data):
        if len(run) == 1 and run[0] != len(data) - 1:  # a point alone between gaps: a dot
            x, y = xy[run[0]]
            parts.append(
                f'<circle class="chart-point" cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{LINE_COLOUR}"/>'
            )
            continue
        coords = " ".join(f"{xy[i][0]:.1f},{xy[i][1]:.1f}" for i in run)
        parts.append(
            f'<polyline class="chart-line" fill="none" stroke="{LINE_COLOUR}" stroke-width="2" '
            f'stroke-linejoin="round" stroke-linecap="round" points="{coords}"/>'
        )
    x, y = xy[-1]
    parts.append(f'<circle class="chart-point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE_COLOUR}"/>')
    return parts


def _runs(data: Sequence[tuple[datetime, float]]) -> list[range]:
    """Index ranges of the points joined by the line: a gap GAP times the median spacing ends one."""
    gaps = [(b[0] - a[0]).total_seconds() for a, b in zip(data, data[1:], strict=False)]
    if len(gaps) < 2:
        return [range(len(data))]
    limit = GAP * sorted(gaps)[len(gaps) // 2]
    runs, start = [], 0
    for i, gap in enumerate(gaps, start=1):
        if gap > limit:
            runs.append(range(start, i))
            start = i
    runs.append(range(start, len(data)))
    return runs
