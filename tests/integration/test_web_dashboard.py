"""The live dashboard over real HTTP on loopback: the page, data that follows the provider,
samples sent once, and clients that misbehave without holding anyone up."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping
from typing import Any

import pytest

from simulator.errors import DashboardPortError
from simulator.live.web import MAX_HEAD_BYTES, LiveDashboard
from tests.reports import GrowingRun, fake_report, fake_timeseries


async def request(port: int, head: str) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` and read the whole answer (the server closes after one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    top, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split(" ")[1]), headers, body


async def get(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    return await request(port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")


async def test_data_follows_the_provider_and_the_page_is_the_live_report() -> None:
    run = GrowingRun()
    async with LiveDashboard(run) as dashboard:
        assert dashboard.port != 0
        assert dashboard.url == f"http://127.0.0.1:{dashboard.port}/"
        status, headers, body = await get(dashboard.port, "/data")
        assert (status, headers["content-type"]) == (200, "application/json")
        assert int(headers["content-length"]) == len(body)
        first = json.loads(body)
        status, _, body = await get(dashboard.port, "/data")
        second = json.loads(body)
        assert len(first["timeseries"]) == 10
        assert len(second["timeseries"]) == 20
        assert second["messages"]["published"] > first["messages"]["published"]

        status, headers, body = await get(dashboard.port, "/")
        assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
        page = body.decode()
        assert 'data-mode="live"' in page
        assert 'id="run-data"' in page
        assert headers["connection"] == "close"
        assert run.calls == 3


async def test_since_sends_only_the_samples_the_page_lacks() -> None:
    run = GrowingRun()
    async with LiveDashboard(run) as dashboard:
        _, _, body = await get(dashboard.port, "/data?since=4")
        data = json.loads(body)
        assert data["timeseries_from"] == 4
        assert data["timeseries"] == run.samples[4:10]
        _, _, body = await get(dashboard.port, "/data?since=500")
        data = json.loads(body)
        assert data["timeseries_from"] == 20, "never past what exists: the page resyncs"
        assert data["timeseries"] == []


async def test_a_new_series_replaces_the_one_sent_before() -> None:
    report = fake_report(seconds=30)
    first_run = report["timeseries"]
    async with LiveDashboard(lambda: report) as dashboard:
        _, _, body = await get(dashboard.port, "/data")
        assert json.loads(body)["timeseries"] == first_run
        report["timeseries"] = fake_timeseries(12, devices=10)
        _, _, body = await get(dashboard.port, "/data?since=0")
        data = json.loads(body)
        assert data["timeseries"] == report["timeseries"]
        assert data["timeseries"][0]["connected"] != first_run[0]["connected"]


async def test_unknown_paths_methods_and_provider_failures_get_an_answer() -> None:
    broken = True

    def provider() -> dict[str, Any]:
        if broken:
            raise RuntimeError("figures not ready")
        return {"scenario": "late", "timeseries": []}

    async with LiveDashboard(provider) as dashboard:
        assert (await get(dashboard.port, "/metrics"))[0] == 404
        assert (await request(dashboard.port, "POST /data HTTP/1.1\r\n\r\n"))[0] == 405
        assert (await request(dashboard.port, "nonsense\r\n\r\n"))[0] == 400
        status, _, body = await get(dashboard.port, "/data")
        assert status == 500
        assert b"figures not ready" in body
        broken = False
        status, _, body = await get(dashboard.port, "/data")
        assert (status, json.loads(body)["scenario"]) == (200, "late")
        status, headers, body = await request(dashboard.port, "HEAD / HTTP/1.1\r\n\r\n")
        assert (status, body) == (200, b"")
        assert int(headers["content-length"]) > 1000
        oversized = "GET / HTTP/1.1\r\nX: " + "a" * MAX_HEAD_BYTES + "\r\n\r\n"
        assert (await request(dashboard.port, oversized))[0] == 431


async def test_a_client_that_sends_nothing_holds_up_no_one() -> None:
    run = GrowingRun()
    async with LiveDashboard(run) as dashboard:
        _, idle = await asyncio.open_connection("127.0.0.1", dashboard.port)
        _, half = await asyncio.open_connection("127.0.0.1", dashboard.port)
        half.write(b"GET /data HTTP/1.1\r\n")
        status, _, _ = await asyncio.wait_for(get(dashboard.port, "/data"), 2)
        assert status == 200
        for writer in (idle, half):
            writer.close()


async def test_stop_frees_the_port_and_a_taken_port_is_a_clear_error() -> None:
    dashboard = LiveDashboard(GrowingRun())
    await dashboard.start()
    port = dashboard.port
    with pytest.raises(DashboardPortError, match=f"port {port} is already in use"):
        await LiveDashboard(GrowingRun(), port=port).start()
    await dashboard.stop()
    await dashboard.stop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST", 200),
        ("[::1]:{port}", 200),
        ("127.5.6.7", 200),
        ("rebound.example:{port}", 421),
        ("rebound.example", 421),
        ("127.0.0.1.rebound.example", 421),
        ("[2001:db8::1]:{port}", 421),
    ],
)
async def test_bound_to_loopback_it_answers_only_to_loopback_hosts(host: str, status: int) -> None:
    # A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) sends that name.
    async with LiveDashboard(GrowingRun()) as dashboard:
        header = host.format(port=dashboard.port)
        answer = await request(dashboard.port, f"GET /data HTTP/1.1\r\nHost: {header}\r\n\r\n")
        assert answer[0] == status


async def post_control(
    port: int, body: bytes, *, content_type: str = "application/json", extra: str = ""
) -> tuple[int, bytes]:
    head = (
        f"POST /control HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode() + body)
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    top, _, answer = raw.partition(b"\r\n\r\n")
    return int(top.split(b" ")[1]), answer


async def test_control_requests_reach_the_controller_and_its_answer_comes_back() -> None:
    heard: list[Mapping[str, Any]] = []

    def control(request: Mapping[str, Any]) -> tuple[int, str]:
        heard.append(request)
        return (200, "publishing paused") if request["action"] == "pause" else (409, "no")

    async with LiveDashboard(fake_report, control=control) as dashboard:
        status, body = await post_control(dashboard.port, b'{"action": "pause"}')
        assert (status, json.loads(body)) == (200, {"ok": True, "message": "publishing paused"})
        status, body = await post_control(dashboard.port, b'{"action": "rate"}')
        assert (status, json.loads(body)["ok"]) == (409, False)
        own = f"Origin: http://127.0.0.1:{dashboard.port}\r\n"
        assert (await post_control(dashboard.port, b'{"action": "pause"}', extra=own))[0] == 200
    assert [request["action"] for request in heard] == ["pause", "rate", "pause"]


@pytest.mark.parametrize(
    ("body", "content_type", "extra", "status"),
    [
        (b'{"action": "pause"}', "text/plain", "", 415),  # a form another site could post
        (b'{"action": "pause"}', "application/json", "Origin: https://evil.example\r\n", 403),
        (b"{not json", "application/json", "", 400),
        (b'["pause"]', "application/json", "", 400),
        (b"x" * 70_000, "application/json", "", 413),
    ],
)
async def test_control_refuses_what_it_must_not_carry_out(
    body: bytes, content_type: str, extra: str, status: int
) -> None:
    heard: list[Mapping[str, Any]] = []

    def control(request: Mapping[str, Any]) -> tuple[int, str]:
        heard.append(request)
        return 200, "done"

    async with LiveDashboard(fake_report, control=control) as dashboard:
        got, _ = await post_control(dashboard.port, body, content_type=content_type, extra=extra)
    assert got == status
    assert heard == []


async def test_a_dashboard_without_control_takes_none() -> None:
    async with LiveDashboard(fake_report) as dashboard:
        assert (await post_control(dashboard.port, b'{"action": "pause"}'))[0] == 404
