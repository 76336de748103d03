"""vpsorg.web.charts: the server-side SVG line chart, pure (no database, no HTTP)."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from vpsorg.web import charts
from vpsorg.web.charts import line_chart

NS = {"svg": "http://www.w3.org/2000/svg"}
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def find_all(root: ET.Element, tag: str) -> list[ET.Element]:
    return root.findall(f".//svg:{tag}", NS)


def polyline_points(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [(float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())]
        for line in find_all(root, "polyline")
    ]


def test_an_accessible_image_named_and_described_in_words() -> None:
    points = [(T0, 10.0), (T0 + timedelta(minutes=5), 20.0), (T0 + timedelta(minutes=10), 30.0)]
    root = parse(line_chart(points, title="CPU, last hour", unit="percent"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.attrib["role"] == "img"
    title, desc = root.find("svg:title", NS), root.find("svg:desc", NS)
    assert title is not None and desc is not None
    assert root.attrib["aria-labelledby"].split() == [title.attrib["id"], desc.attrib["id"]]
    assert title.text == "CPU, last hour"
    assert desc.text == (
        "3 points from 2026-12-06 10:00 to 2026-12-06 10:10 UTC: minimum 10%, average 20%, maximum 30%, latest 30%."
    )


def test_no_inline_style_only_presentation_attributes_and_classes() -> None:
    points = [(T0 + timedelta(minutes=i), float(i % 7)) for i in range(60)]
    svg = line_chart(points, title="Memory", unit="MiB")
    root = parse(svg)
    everything = list(root.iter())
    assert all("style" not in e.attrib for e in everything)
    assert not [e for e in everything if e.tag.endswith(("}style", "}script"))]
    assert "style=" not in svg
    (line,) = find_all(root, "polyline")
    assert line.attrib["class"] == "chart-line" and line.attrib["fill"] == "none" and line.attrib["stroke"]
    classes = {e.attrib.get("class") for e in everything}
    assert {"chart", "chart-grid", "chart-axis", "chart-label", "chart-line", "chart-point"} <= classes


def test_every_text_is_escaped() -> None:
    nasty = '<script>alert("x")</script> & "quotes"'
    svg = line_chart(
        [(T0, 1.0), (T0 + timedelta(hours=1), 2.0)], title=nasty, unit="<b>GB</b>", chart_id='a"b'
    )
    assert "<script>" not in svg and "<b>" not in svg
    root = parse(svg)  # still well-formed
    title = root.find("svg:title", NS)
    assert title is not None and title.text == nasty
    assert title.attrib["id"] == 'a"b-title'
    labels = [t.text for t in find_all(root, "text")]
    assert "2 <b>GB</b>" in labels  # the largest tick, its unit escaped then read back


def test_the_line_spans_the_plot_and_the_scale_starts_at_zero() -> None:
    points = [(T0 + timedelta(minutes=5 * i), v) for i, v in enumerate([0.0, 40.0, 80.0, 20.0])]
    width, height = 400, 200
    root = parse(line_chart(points, title="CPU", unit="percent", width=width, height=height))
    assert root.attrib["viewBox"] == f"0 0 {width} {height}"
    (line,) = polyline_points(root)
    left, right, bottom, top = (
        charts.PAD_LEFT,
        width - charts.PAD_RIGHT,
        height - charts.PAD_BOTTOM,
        charts.PAD_TOP,
    )
    assert [x for x, _ in line] == [left, left + (right - left) / 3, left + 2 * (right - left) / 3, right]
    assert [y for _, y in line] == [bottom, bottom - (bottom - top) / 2, top, bottom - (bottom - top) / 4]
    labels = [t.text for t in find_all(root, "text")]
    assert labels[:5] == ["0%", "20%", "40%", "60%", "80%"]  # the value axis: 4 steps, round numbers


def test_the_time_axis_has_a_few_round_ticks() -> None:
    day = [(T0 + timedelta(minutes=5 * i), 1.0) for i in range(288)]  # 10:00 to 09:55 next day
    labels = [t.text for t in find_all(parse(line_chart(day, title="CPU", unit="percent")), "text")]
    assert labels[-4:] == ["12:00", "18:00", "00:00", "06:00"]
    week = [(T0 + timedelta(hours=i), 1.0) for i in range(7 * 24)]
    labels = [t.text for t in find_all(parse(line_chart(week, title="CPU", unit="percent")), "text")]
    assert labels[-4:] == ["Dec 7", "Dec 9", "Dec 11", "Dec 13"]  # every other day


def test_a_gap_in_the_samples_breaks_the_line() -> None:
    points = [(T0 + timedelta(minutes=i), 1.0) for i in range(10)]
    points += [(T0 + timedelta(minutes=60 + i), 2.0) for i in range(10)]
    lines = polyline_points(parse(line_chart(points, title="CPU", unit="percent")))
    assert [len(line) for line in lines] == [10, 10]


def test_the_range_given_places_the_points_and_leaves_out_the_rest() -> None:
    start, end = T0, T0 + timedelta(hours=24)
    points = [
        (start - timedelta(hours=1), 5.0),
        (T0 + timedelta(hours=12), 1.0),
        (end - timedelta(hours=6), 3.0),
    ]
    root = parse(line_chart(points, title="Disk", unit="GB", start=start, end=end, width=424))
    (line,) = polyline_points(root)
    assert [x for x, _ in line] == [64 + 348 / 2, 64 + 348 * 3 / 4]  # 424 - 64 - 12 = 348 wide
    desc = root.find("svg:desc", NS)
    assert (
        desc is not None
        and desc.text is not None
        and desc.text.startswith("2 points")
        and "maximum 3 GB" in desc.text
    )


def test_no_samples_yet() -> None:
    svg = line_chart([], title="Bandwidth", unit="GB")
    root = parse(svg)
    desc = root.find("svg:desc", NS)
    assert desc is not None and desc.text == "No samples yet."
    assert [t.text for t in find_all(root, "text")] == ["No samples yet"]
    assert find_all(root, "polyline") == [] and find_all(root, "circle") == []
    # non-finite values are no samples either
    assert "No samples yet" in line_chart([(T0, float("nan"))], title="Bandwidth", unit="GB")


def test_one_point_and_naive_times() -> None:
    root = parse(line_chart([(datetime(2026, 12, 6, 10, 0), 7.5)], title="CPU", unit="percent"))
    (dot,) = find_all(root, "circle")
    assert float(dot.attrib["cx"]) == (charts.PAD_LEFT + 600 - charts.PAD_RIGHT) / 2
    desc = root.find("svg:desc", NS)
    assert desc is not None and desc.text == (
        "1 point from 2026-12-06 10:00 to 2026-12-06 10:00 UTC: minimum 7.5%, average 7.5%, maximum 7.5%, latest 7.5%."
    )


def test_each_chart_has_its_own_ids_unless_given_one() -> None:
    a = parse(line_chart([(T0, 1.0)], title="CPU, 24 hours", unit="percent"))
    b = parse(line_chart([(T0, 1.0)], title="CPU, 7 days", unit="percent"))
    assert a.attrib["aria-labelledby"] != b.attrib["aria-labelledby"]
    c = parse(line_chart([(T0, 1.0)], title="CPU", unit="percent", chart_id="cpu-day"))
    assert c.attrib["aria-labelledby"] == "cpu-day-title cpu-day-desc"


def test_numbers_as_people_read_them() -> None:
    assert [charts.number(v) for v in (1234.5, 56.78, 8.25, 0.0, -0.001, 100.0)] == [
        "1,234",
        "56.8",
        "8.25",
        "0",
        "0",
        "100",
    ]
    assert charts.with_unit(2048, "MiB") == "2,048 MiB" and charts.with_unit(12.5, "percent") == "12.5%"
