"""The report page in a real headless Chromium: the script runs, draws the charts, and the live
page redraws as the run's data grows. Without Chromium they fail (see tests/required.py)."""

from __future__ import annotations

import asyncio
import re
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from simulator.live.web import LiveDashboard
from simulator.report.html import write_html
from tests import required
from tests.reports import GrowingRun, fake_report

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]

CHART = r'<svg viewBox="0 0 \d+ \d+"'
"""A chart the script drew (its source spells the size as a placeholder)."""

SERIES = r'<path class="s" stroke="#\w+" d="([^"]+)"'
"""A series line the script drew, with its points."""

SERIES_BLUE = (0x1F, 0x6F, 0xB4)
"""The first series' colour in report.js: only the charts have it."""


def browser_args(profile: Path, *args: str) -> list[str]:
    return [
        required.chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]


def run_browser(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        browser_args(profile, *args), capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


async def dump_dom(profile: Path, url: str) -> str:
    """The DOM after the page's scripts ran, fetched without blocking this loop (which may be
    serving the page)."""
    process = await asyncio.create_subprocess_exec(
        *browser_args(profile, "--virtual-time-budget=3000", "--dump-dom", url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


def unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    """Undo PNG filter Sub (1), Average (3) or Paeth (4) on one row, in place."""
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = prev[i]
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 255
        else:
            corner = prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + best) & 255


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB(A) rows of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    bpp = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows: list[bytes] = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind in (1, 3, 4):
            unfilter(kind, line, prev, bpp)
        rows.append(bytes(line) if bpp == 3 else bytes(v for k, v in enumerate(line) if k % 4 != 3))
        prev = line
    return width, height, rows


def test_the_archived_report_renders_its_charts(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html(fake_report(seconds=120), page)
    shot = tmp_path / "report.png"
    run_browser(
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        page.as_uri(),
    )
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    colours: Counter[bytes] = Counter()
    for row in rows:
        colours.update(row[i : i + 3] for i in range(0, len(row), 3))
    non_white = width * height - colours[b"\xff\xff\xff"]
    blue = sum(
        n
        for colour, n in colours.items()
        if all(abs(c - s) < 40 for c, s in zip(colour, SERIES_BLUE, strict=True))
    )
    assert len(colours) > 100
    assert non_white > width * height // 50
    assert blue > 1000, "the chart lines were drawn"

    dom = asyncio.run(dump_dom(tmp_path / "profile-dom", page.as_uri()))
    assert len(re.findall(CHART, dom)) == 7
    assert len(re.findall(SERIES, dom)) >= 10
    assert "120 s</b> draining" in dom


def drawn(dom: str) -> tuple[float, int, list[str]]:
    """The time the status line shows, the published count in the table, the series drawn."""
    status = re.search(r"<b>([\d,.]+) s</b>", dom)
    published = re.search(r'<td>published</td><td class="v">([\d,]+)</td>', dom)
    assert status is not None, dom[:2000]
    assert published is not None, dom[:2000]
    return (
        float(status[1].replace(",", "")),
        int(published[1].replace(",", "")),
        re.findall(SERIES, dom),
    )


async def test_the_live_page_redraws_as_the_run_goes(tmp_path: Path) -> None:
    run = GrowingRun(step=5, total=400)  # five seconds further along at every call
    async with LiveDashboard(run) as dashboard:
        first = await dump_dom(tmp_path / "profile-1", dashboard.url)
        second = await dump_dom(tmp_path / "profile-2", dashboard.url)
    assert 'data-mode="live"' in first
    assert len(re.findall(CHART, first)) == len(re.findall(CHART, second)) == 7
    (t1, published1, paths1), (t2, published2, paths2) = drawn(first), drawn(second)
    assert t2 > t1 >= 5
    assert paths1 != paths2
    rendered_with = run.samples[4]["published_total"]  # the first call rendered the page
    assert published1 > rendered_with, "the page swapped its tables for fresh ones"
    assert published2 > published1
    assert re.search(r'<span class="live">live \d', second), "the last fetch succeeded"


def test_stage_boundaries_are_marked_on_every_chart(tmp_path: Path) -> None:
    report = fake_report(seconds=60)
    for sample in report["timeseries"]:
        sample["stage"] = 1 if sample["t_s"] <= 20 else 2 if sample["t_s"] <= 45 else None
    page = tmp_path / "live-like.html"
    write_html(report, page)  # no stages list: marked where the samples' stage changes
    dom = asyncio.run(dump_dom(tmp_path / "profile-samples", page.as_uri()))
    assert len(re.findall(r'<line class="stage" x1="[\d.]+"', dom)) == 7 * 2
    assert ">stage 2</text>" in dom

    report["stages"] = [
        {"number": n, "start_s": start, "end_s": end}
        for n, start, end in ((1, 0.0, 20.0), (2, 20.0, 45.0), (3, 45.0, 50.0))
    ]
    write_html(report, page)  # the report's stages: each marked where it begins
    dom = asyncio.run(dump_dom(tmp_path / "profile-stages", page.as_uri()))
    assert len(re.findall(r'<line class="stage" x1="[\d.]+"', dom)) == 7 * 3
    assert ">stage 3</text>" in dom


def test_fault_windows_are_shaded_on_every_chart(tmp_path: Path) -> None:
    report = fake_report(seconds=60)
    fault = {"kind": "partition", "at_s": 10.0, "started_s": 10.0, "ended_s": 25.0}
    late = {"kind": "drop_connections", "at_s": 3600.0, "started_s": None, "ended_s": None}
    cut = {"kind": "drop_connections", "at_s": 40.0, "started_s": 40.0, "ended_s": 40.0}
    report["faults"] = [fault, cut, late]
    page = tmp_path / "faults.html"
    write_html(report, page)
    dom = asyncio.run(dump_dom(tmp_path / "profile-faults", page.as_uri()))
    windows = re.findall(r'<rect class="fault" x="([\d.]+)" y="\d+" width="([\d.]+)"', dom)
    assert len(windows) == 7 * 2  # one per fault that happened, on each of the seven charts
    widths = {float(width) for _, width in windows}
    assert min(widths) == 1.5  # the cut: a moment
    assert max(widths) > 50  # the partition: 15 of 60 seconds
    assert dom.count(">partition</text>") == 7


def test_live_control_requests_are_marked_on_every_chart(tmp_path: Path) -> None:
    report = fake_report(seconds=60)
    pause = {"t_s": 12.4, "action": "pause", "detail": "publishing paused", "ok": True}
    refused = {"t_s": 30.2, "action": "rate", "detail": "msg_rate_per_s must be", "ok": False}
    for sample in report["timeseries"]:
        sample["control"] = {13.0: [pause], 31.0: [refused]}.get(sample["t_s"])
    page = tmp_path / "control.html"
    write_html(report, page)
    dom = asyncio.run(dump_dom(tmp_path / "profile-control", page.as_uri()))
    assert dom.count('<g class="control"><title>publishing paused</title>') == 7
    assert dom.count('<g class="control refused"><title>msg_rate_per_s must be</title>') == 7
    assert dom.count('dx="3">pause</text></g>') == 7
