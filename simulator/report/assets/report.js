// Draws the run's time series as SVG line charts, in the same way for the archived report
// (data embedded in #run-data) and the live dashboard (data fetched from "data" every second).
(() => {
  "use strict";
  const COLORS = ["#1f6fb4", "#d3422f", "#2b9348", "#8e44ad"];
  const CHARTS = [
    { title: "Connected devices", unit: "devices", whole: true, series: [["connected", "connected"]] },
    { title: "Messages per second", unit: "msg/s",
      series: [["published_per_s", "published"], ["ingested_per_s", "ingested"]] },
    { title: "End-to-end latency", unit: "ms",
      series: [["latency_ms_p50", "p50"], ["latency_ms_p99", "p99"]] },
    { title: "Lost, duplicated, malformed (so far)", unit: "messages", whole: true,
      series: [["lost_so_far", "lost"], ["duplicated_total", "duplicated"],
        ["out_of_order_total", "out of order"], ["malformed_total", "malformed"]] },
    { title: "Onboarding", unit: "devices/s", series: [["onboarding_rate_per_s", "onboarded"]],
      note: (d) => {
        const c = (d.onboarding || {}).connect_ms || {};
        return c.p50 == null ? "" : `connect p50 ${num(c.p50)} ms, p99 ${num(c.p99)} ms`;
      } },
    { title: "Simulator memory", unit: "MiB", scale: 1 / 1048576, series: [["rss_bytes", "RSS"]] },
    { title: "Simulator CPU", unit: "% of a core", series: [["cpu_percent", "CPU"]] },
  ];
  const W = 560, H = 230, L = 54, R = 12, T = 18, B = 32;
  const ENT = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ENT[c]);

  function num(v) {
    if (v == null) return "-";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return String(Math.round(v * 100) / 100);
  }

  const full = (v) => (v == null ? "-" : v.toLocaleString("en-US", { maximumFractionDigits: 1 }));

  // A 1-2-5 step giving about five ticks over `span`.
  function step(span) {
    const raw = span / 5, e = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / e;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * e;
  }

  function chart(def, samples, data) {
    const k = def.scale || 1;
    const tMax = Math.max(1, samples.length ? samples[samples.length - 1].t_s : 1);
    let top = 0;
    for (const s of samples) for (const [key] of def.series) if (s[key] != null) top = Math.max(top, s[key] * k);
    // Counts of whole things get whole ticks: no "0.2 lost messages" on a clean run.
    const yStep = Math.max(def.whole ? 1 : 0, step(top > 0 ? top : 1)), yTop = Math.max(yStep, Math.ceil(top / yStep) * yStep);
    const xStep = step(tMax);
    const x = (t) => (L + (t / tMax) * (W - L - R)).toFixed(1);
    const y = (v) => (T + (1 - v / yTop) * (H - T - B)).toFixed(1);
    const out = [`<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(def.title)}">`];
    for (let v = 0; v <= yTop + yStep / 2; v += yStep) {
      out.push(`<line class="grid-line" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/>`,
        `<text x="${L - 6}" y="${y(v)}" dy="4" text-anchor="end">${num(v)}</text>`);
    }
    for (let t = 0; t <= tMax + xStep / 100; t += xStep) {
      out.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${num(t)}</text>`);
    }
    out.push(`<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>`,
      `<line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/>`,
      `<text x="${W - R}" y="${H - 2}" text-anchor="end">seconds</text>`,
      `<text x="${L}" y="${T - 6}">${esc(def.unit)}</text>`);
    // Each fault of the run's [[faults]] that began: its window shaded (a moment, a thin
    // band), its kind halfway down.
    for (const f of data.faults || []) {
      if (f.started_s == null) continue;
      const end = f.ended_s ?? tMax;  // live: a window still open runs to the latest sample
      const x0 = +x(f.started_s), x1 = +x(Math.max(f.started_s, end));
      out.push(`<rect class="fault" x="${x0}" y="${T}" width="${Math.max(1.5, x1 - x0).toFixed(1)}"` +
        ` height="${H - T - B}"/>`,
        `<text class="ft" x="${x0}" y="${(T + H - B) / 2}" dx="3">${esc(f.kind)}</text>`);
    }
    let phase = null, lastX = -1e9, row = 0;
    for (const s of samples) {
      if (s.phase === phase) continue;
      phase = s.phase;
      const px = +x(s.t_s), right = px > W - R - 70;
      row = px - lastX < 75 ? row + 1 : 0;  // phases close together: labels go one row lower
      lastX = px;
      out.push(`<line class="phase" x1="${px}" x2="${px}" y1="${T}" y2="${H - B}"/>`,
        `<text class="ph" x="${px}" y="${T + 10 + 12 * row}" dx="${right ? -3 : 3}"` +
        `${right ? ' text-anchor="end"' : ""}>${esc(phase)}</text>`);
    }
    let stageX = -1e9, stageRow = 0;
    for (const [t, label] of stageMarks(samples, data)) {
      const px = +x(t);
      stageRow = px - stageX < 45 ? stageRow + 1 : 0;  // short stages: labels go one row higher
      stageX = px;
      out.push(`<line class="stage" x1="${px}" x2="${px}" y1="${T}" y2="${H - B}"/>`,
        `<text class="st" x="${px}" y="${H - B - 4 - 12 * stageRow}" dx="3">${esc(label)}</text>`);
    }
    // Each live control request the run took (a sample's control list): a dotted line at its
    // moment, the action three quarters down, the answer as the line's tooltip.
    for (const c of controlMarks(samples)) {
      const px = x(c.t_s);
      out.push(`<g class="control${c.ok ? "" : " refused"}"><title>${esc(c.detail)}</title>` +
        `<line x1="${px}" x2="${px}" y1="${T}" y2="${H - B}"/>` +
        `<text class="ct" x="${px}" y="${T + 0.75 * (H - T - B)}" dx="3">${esc(c.action)}</text></g>`);
    }
    const legend = [];
    def.series.forEach(([key, label], i) => {
      let d = "", pen = "M", last = null;
      for (const s of samples) {
        if (s[key] == null) { pen = "M"; continue; }
        d += `${pen}${x(s.t_s)} ${y(s[key] * k)}`;
        pen = "L";
        last = s[key] * k;
      }
      if (d) out.push(`<path class="s" stroke="${COLORS[i]}" d="${d}"/>`);
      legend.push(`<span><i style="background:${COLORS[i]}"></i>${esc(label)} ${full(last)}</span>`);
    });
    out.push("</svg>");
    const note = def.note ? def.note(data) : "";
    return `<figure><figcaption>${esc(def.title)}<span class="note">${esc(note)}</span></figcaption>` +
      `${out.join("")}<div class="legend">${legend.join("")}</div></figure>`;
  }

  // Where each of the run's [[stages]] begins: the report's stages once there are any, else
  // (a live run) where the samples' stage number changes.
  function stageMarks(samples, data) {
    const stages = data.stages || [];
    if (stages.length) return stages.map((s) => [s.start_s, `stage ${s.number}`]);
    const marks = [];
    let stage = null;
    for (const s of samples) {
      if (s.stage == null || s.stage === stage) continue;
      stage = s.stage;
      marks.push([s.t_s, `stage ${stage}`]);
    }
    return marks;
  }

  function controlMarks(samples) {
    const marks = [];
    for (const s of samples) for (const c of s.control || []) marks.push(c);
    return marks;
  }

  function status(samples) {
    const s = samples[samples.length - 1];
    if (!s) return "no samples yet";
    return [`<b>${full(s.t_s)} s</b> ${esc(s.phase)}`, `<b>${full(s.connected)}</b> connected`,
      `<b>${full(s.published_per_s)}</b> published/s`, `<b>${full(s.ingested_per_s)}</b> ingested/s`,
      `p99 <b>${full(s.latency_ms_p99)}</b> ms`, `lost <b>${full(s.lost_so_far)}</b>`].join(" · ");
  }

  let data = JSON.parse(document.getElementById("run-data").textContent);
  let samples = data.timeseries || [];
  const live = document.body.dataset.mode === "live";
  let badge = "";

  function draw() {
    const box = document.getElementById("charts");
    box.innerHTML = samples.length
      ? CHARTS.map((def) => chart(def, samples, data)).join("")
      : `<p class="note">No samples yet.</p>`;
    document.getElementById("status").innerHTML = badge + status(samples);
  }

  // Everything but the samples; when it changes, the server-rendered tables are stale.
  const rest = (d) => JSON.stringify(d, (key, v) => (key === "timeseries" ? undefined : v));

  async function swapTables() {
    const page = await fetch(location.pathname, { cache: "no-store" });
    const doc = new DOMParser().parseFromString(await page.text(), "text/html");
    for (const el of document.querySelectorAll("[data-swap]")) {
      const fresh = doc.getElementById(el.id);
      if (fresh) el.replaceWith(fresh);
    }
  }

  // Asks only for the samples it lacks, so a long run costs the server the same every second.
  async function poll() {
    let wait = 1000;
    try {
      const r = await fetch(`data?since=${samples.length}`, { cache: "no-store" });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const fresh = await r.json();
      samples = samples.slice(0, fresh.timeseries_from || 0).concat(fresh.timeseries || []);
      delete fresh.timeseries_from;
      const changed = rest(fresh) !== rest(data);
      data = fresh;
      if (changed) await swapTables();
      badge = `<span class="live">live ${new Date().toLocaleTimeString()}</span>`;
    } catch (err) {
      badge = `<span class="live down">disconnected (${esc(err.message)})</span>`;
      wait = 3000;
    }
    draw();
    setTimeout(poll, wait);
  }

  // Live control: each button posts one request; the answer is shown under them.
  function controlRequest(action) {
    if (action === "rate") {
      return { action, msg_rate_per_s: Number(document.getElementById("control-rate").value) };
    }
    if (action !== "fault") return { action };
    const fault = { kind: document.getElementById("control-kind").value };
    for (const pair of document.getElementById("control-params").value.split(",")) {
      const [key, value] = pair.split("=").map((s) => s.trim());
      if (key) fault[key] = value !== "" && !isNaN(Number(value)) ? Number(value) : value;
    }
    return { action, fault };
  }

  for (const button of document.querySelectorAll("#control button")) {
    button.addEventListener("click", async () => {
      const said = document.getElementById("control-said");
      try {
        const r = await fetch("control", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(controlRequest(button.dataset.action)),
        });
        const answer = r.headers.get("Content-Type") === "application/json"
          ? (await r.json()).message : await r.text();
        said.textContent = answer;
        said.className = r.ok ? "note pass" : "note fail";
      } catch (err) {
        said.textContent = `not sent: ${err.message}`;
        said.className = "note fail";
      }
    });
  }

  draw();
  if (live) poll();
})();
