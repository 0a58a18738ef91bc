"""The HTML report page: valid, self-contained, small, escaped, and carrying the report intact."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from simulator.metrics.timeseries import SAMPLE_KEYS
from simulator.report.html import SUMMARY, mask_password, render_html, write_html
from tests.reports import fake_report

VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "col", "area", "base"}


class Page(HTMLParser):
    """Parses a page, checks that tags nest, and keeps what the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.scripts: dict[str | None, str] = {}
        self.urls: list[str] = []
        self.text: list[str] = []
        self._script: str | None = None
        self._script_id: str | None = None
        self.feed(text)
        self.close()
        if self.open:
            self.problems.append(f"never closed: {self.open}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(v or "" for k, v in attrs if k in ("src", "href", "action", "data"))
        if tag == "script":
            self._script, self._script_id = "", dict(attrs).get("id")
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(v or "" for k, v in attrs if k in ("src", "href", "action", "data"))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()
        if tag == "script" and self._script is not None:
            self.scripts[self._script_id] = self._script
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script += data
        else:
            self.text.append(data)


def test_the_page_is_well_formed_and_embeds_the_report_intact() -> None:
    report = fake_report()
    page = Page(render_html(report))
    assert page.problems == []
    assert json.loads(page.scripts["run-data"]) == report
    assert len(report["timeseries"]) == 300
    assert set(report["timeseries"][0]) == set(SAMPLE_KEYS)


def test_the_summary_shows_every_section_and_figure() -> None:
    report = fake_report()
    text = " ".join(Page(render_html(report)).text)
    for column in SUMMARY:
        for section, _rows in column:
            assert section in text
    assert f"{report['messages']['published']:,}" in text
    assert f"{report['latency_ms']['p99']:,.2f} ms" in text
    assert "machine-sensor" in text
    assert "fleet.publish_interval_s" in text


def test_a_hostile_scenario_name_cannot_break_out_of_the_json_or_the_markup() -> None:
    name = "</script><b>x</b><!--"
    report = fake_report(seconds=20, name=name, note="</SCRIPT><script>alert(1)</script>")
    html = render_html(report)
    page = Page(html)
    assert page.problems == []
    assert "<b>x" not in html
    assert html.lower().count("<script") == 2
    assert html.lower().count("</script") == 2
    assert json.loads(page.scripts["run-data"])["scenario"] == name
    assert name in " ".join(page.text)


def test_thresholds_and_notes_are_shown_with_their_verdicts() -> None:
    report = fake_report(seconds=30)
    report["thresholds"] = [
        {"expr": "latency_ms.p99 < 50", "value": 7.5, "passed": True},
        {"expr": "messages.lost == 0 && x<y", "value": 3, "passed": False},
        {"expr": "sink.rows > 0", "value": None, "passed": False},
    ]
    report["notes"] = ["ingest drained <late>"]
    html = render_html(report)
    assert Page(html).problems == []
    assert html.count('class="pass"') == 1
    assert html.count('class="fail"') == 2
    assert "messages.lost == 0 &amp;&amp; x&lt;y" in html
    assert "ingest drained &lt;late&gt;" in html


def test_nothing_is_loaded_from_elsewhere_and_the_page_stays_small() -> None:
    report = fake_report(seconds=60)
    html = render_html(report)
    page = Page(html)
    assert page.urls == []
    assert "http://" not in html
    assert "https://" not in html
    assert not re.search(r"@import|url\(", html)
    assert "default-src 'none'" in html
    shell = render_html({"scenario": "empty"})
    assert len(shell.encode()) < 20_000, "template, CSS and script together"
    assert len(html.encode()) < 60_000, "a 60 s run"


def test_null_figures_read_not_measured_and_absent_ones_a_dash() -> None:
    report = fake_report(seconds=10)
    report["ingest"] = None
    report["latency_ms"] = {"p50": None, "p90": None, "p99": None, "max": None}
    del report["messages"]
    text = Page(render_html(report)).text
    assert text.count("not measured") >= 4
    assert text.count("\N{EN DASH}") >= 7


def test_passwords_in_urls_are_masked_in_tables_and_data() -> None:
    report = fake_report(seconds=10, broker={"url": "mqtt://plant:s3cr3t@broker.local:1883"})
    report["broker"]["url"] = "mqtts://plant:s3cr3t@broker.local:8883"
    html = render_html(report)
    assert "s3cr3t" not in html
    assert "mqtt://plant:***@broker.local:1883" in html
    assert mask_password("mqtt://a:b@h and mqtt://h:1883/x") == "mqtt://a:***@h and mqtt://h:1883/x"


def test_live_mode_leaves_the_samples_to_the_first_fetch() -> None:
    report = fake_report(seconds=30)
    page = Page(render_html(report, live=True))
    data = json.loads(page.scripts["run-data"])
    assert "timeseries" not in data
    assert data["scenario"] == "quickstart"
    assert 'data-mode="live"' in render_html(report, live=True)
    assert 'data-mode="report"' in render_html(report)


def test_write_html_creates_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "q.html"
    report = fake_report(seconds=5)
    write_html(report, path)
    assert path.read_text(encoding="utf-8") == render_html(report)


def test_the_onboarding_funnel_is_a_table_for_the_register_workflow() -> None:
    from simulator.metrics.funnel import FIRST_TELEMETRY, REGISTER_STAGES, Funnel

    report = fake_report(seconds=10)
    assert "Onboarding funnel" not in render_html(report)  # the connect workflow has none
    funnel = Funnel((*REGISTER_STAGES, FIRST_TELEMETRY))
    for stage in funnel.stages:
        stage.reach(2_000, 90)
    funnel["registered"].rejected = 7
    funnel["registered"].timeouts = 3
    report["onboarding"]["workflow"] = "register"
    report["onboarding"]["funnel"] = funnel.to_dict()
    html = render_html(report)
    assert Page(html).problems == []
    table = html[html.index("<h2>Onboarding funnel</h2>") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>([a-z_]+)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", table)
    assert [name for name, _ in rows] == [*REGISTER_STAGES, FIRST_TELEMETRY]
    registered = re.findall(r">([^<]*)</td>", dict(rows)["registered"])
    assert registered[:3] == ["90", "7", "3"]
    assert registered[-2].endswith(" ms")


def test_stages_and_fleet_groups_are_tables() -> None:
    report = fake_report(seconds=30)
    stage = {
        "number": 1, "start_s": 0.0, "end_s": 30.0, "devices_planned": 1000,
        "devices_achieved": 990, "msg_rate_planned_per_s": 500.0,
        "msg_rate_achieved_per_s": 480.0, "messages_planned": 15000, "published": 14400,
        "ingested": 14400, "ingested_per_s": 480.0, "lost": 0, "latency_ms_p50": 1.0,
        "latency_ms_p99": 9.0, "cpu_percent": 40.0, "kept": True, "behind": None,
    }  # fmt: skip
    behind = {**stage, "number": 2, "kept": False, "behind": "messages fell behind: <why>"}
    report["stages"] = [stage, behind]
    group = {
        "model": "robot", "payload": "json", "interval_s": 1.0, "connection": "gateway",
        "devices": 40, "published": 400, "ingested": 400, "lost": 0, "latency_ms_p50": 1.0,
        "latency_ms_p99": 2.0,
    }  # fmt: skip
    report["groups"] = [group]
    html = render_html(report)

    assert Page(html).problems == []
    assert "<h2>Stages</h2>" in html
    assert "kept to plan" in html
    assert "messages fell behind: &lt;why&gt;" in html
    assert "<h2>Fleet groups</h2>" not in html  # one group is the run itself
    report["groups"] = [group, {**group, "model": "cnc-machine", "connection": "direct"}]
    assert "<h2>Fleet groups</h2>" in render_html(report)
