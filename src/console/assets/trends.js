// Time charts drawn with uPlot (vendor/uPlot.iife.min.js: canvas, styles set through the
// CSSOM only, so the console's CSP holds), and the Trends page: per model, target or
// route and per time step, requests, errors, p50/p95 latency, p95 time to first token,
// tokens and spend (`GET /admin/trends`), one chart per figure with a series per group,
// and each group's health grade per step as a strip of coloured cells (CSS classes).
// A chart is drawn once its box is in the page (a ResizeObserver gives it its width and
// follows it); it is destroyed when the box leaves the page. Only the busiest groups are
// drawn unless "show all" is ticked: 50 groups × 2160 hourly steps stay quick, and no
// point is a DOM node (the grade strips are bucketed to at most GRADE_CELLS cells).
// Drawn with console.js's helpers (`el`, `api`, `table`, `num`, `money`, `pct`, `when`);
// handed to console.js's `show()` in `window.INSIGHT_VIEWS`; the chart maker as
// `window.TIME_CHART`, the Usage page's chart as `window.USAGE_CHART`.
"use strict";

(() => {
  const enc = encodeURIComponent;
  // Groups drawn unless "show all" is ticked (the busiest by requests).
  const TOP = 10;
  // Most cells a grade strip has (steps beyond are bucketed: the worst grade wins).
  const GRADE_CELLS = 120;
  const PALETTE = ["#3451b2", "#e5484d", "#30a46c", "#f76b15", "#8e4ec6", "#0090ff", "#d6409f", "#978365", "#12a594", "#c59b00"];
  const color = (i) => (i < PALETTE.length ? PALETTE[i] : `hsl(${Math.round((i * 137.508) % 360)}, 62%, 44%)`);
  const RANGES = ["1h", "6h", "24h", "7d", "30d", "90d"];
  const STEP_NAME = { 300: "5 minutes", 3600: "hour", 86400: "day" };

  const ms = (v) => (v === null || v === undefined ? "–" : `${num(v)} ms`);
  // Spend in axis ticks and legends: fewer digits for bigger amounts.
  const usd = (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 ? 2 : 4));
  const count = (v) => {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return num(v, a < 10 ? 2 : 0);
  };

  // Counts and money start at 0 (a spend of 0 draws at the bottom, not full height).
  const fromZero = (u, min, max) => [0, max > 0 ? max * 1.08 : 1];

  // A floating box by the cursor with the time and the largest values there (only on
  // the chart the pointer is over; synced charts show their cursor and legend values).
  function tooltip(fmt) {
    let tip = null;
    let over = false;
    return {
      hooks: {
        init: (u) => {
          tip = el("div", { class: "u-tip", hidden: true });
          u.over.append(tip);
          u.over.addEventListener("mouseenter", () => { over = true; });
          u.over.addEventListener("mouseleave", () => { over = false; tip.hidden = true; });
        },
        setCursor: (u) => {
          const i = u.cursor.idx;
          if (!over || i === null || i === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
          const rows = [];
          for (let s = 1; s < u.series.length; s++) {
            const v = u.data[s][i];
            if (u.series[s].show && v !== null && v !== undefined) rows.push([s, v]);
          }
          rows.sort((a, b) => b[1] - a[1]);
          const shown = rows.slice(0, 8).map(([s, v]) => {
            const sw = el("span", { class: "u-tip-sw" });
            sw.style.background = u.series[s].color || "#888";
            return el("div", {}, sw, el("span", { class: "u-tip-k", text: u.series[s].label }), " ", el("b", { text: (u.series[s].fmt || fmt)(v) }));
          });
          tip.replaceChildren(el("div", { class: "muted", text: when(u.data[0][i]) + " UTC" }), ...shown,
            rows.length > 8 ? el("div", { class: "muted", text: `+ ${rows.length - 8} more` }) : null);
          tip.hidden = false;
          const left = u.cursor.left + 14;
          tip.style.left = (left + 220 > u.over.clientWidth ? Math.max(0, u.cursor.left - 234) : left) + "px";
          tip.style.top = Math.max(0, u.cursor.top - 10) + "px";
        },
      },
    };
  }

  // A y axis as wide as its longest tick label (uPlot calls this again when they change).
  function axisSize(u, values, i, cycle) {
    const axis = u.axes[i];
    if (cycle > 1) return axis._size;
    let longest = "";
    for (const v of values || []) if (v && v.length > longest.length) longest = v;
    let size = axis.ticks.size + axis.gap;
    if (longest) { u.ctx.font = axis.font[0]; size += u.ctx.measureText(longest).width / devicePixelRatio; }
    return Math.ceil(Math.max(size, 40));
  }

  // A uPlot time chart in `box`: `times` (unix seconds) and `series` ([{label, values,
  // color?, scale?, fmt?}]); `scales` ({name: {fmt, side?}}: the y axes, from 0 unless
  // `fromZero: false`); `sync` a key shared by charts whose cursors move together;
  // `onDraw(u)` once, after the first draw. Returns a handle whose `.u` is the uPlot.
  function timeChart(box, o) {
    const handle = { u: null };
    const height = o.height || 220;
    const scaleNames = Object.keys(o.scales);
    const scales = { x: { time: true } };
    for (const n of scaleNames) scales[n] = o.scales[n].fromZero === false ? { auto: true } : { range: fromZero };
    const opts = {
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      scales,
      series: [{ label: "time (UTC)", value: (u, v) => (v === null ? "–" : when(v)) }].concat(o.series.map((s, i) => {
        const fmt = s.fmt || o.scales[s.scale || scaleNames[0]].fmt;
        const c = s.color || color(i);
        return { label: s.label, scale: s.scale || scaleNames[0], stroke: c, color: c, width: 1.5, spanGaps: false,
          points: { show: false }, fmt, value: (u, v) => (v === null || v === undefined ? "–" : fmt(v)) };
      })),
      axes: [{ stroke: "#667085", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e4e7ec" } }].concat(scaleNames.map((n, i) => ({
        scale: n, side: o.scales[n].side === undefined ? (i ? 1 : 3) : o.scales[n].side, size: axisSize,
        stroke: "#667085", grid: { show: i === 0, stroke: "#eef0f3" }, ticks: { stroke: "#e4e7ec" },
        values: (u, ticks) => ticks.map(o.scales[n].fmt),
      }))),
      legend: { show: o.legend !== false, live: true },
      cursor: Object.assign({ points: { size: 6 }, drag: { x: true, y: false } }, o.sync ? { sync: { key: o.sync } } : {}),
      plugins: [tooltip(o.scales[scaleNames[0]].fmt)],
      hooks: { draw: [(u) => { if (!u._told) { u._told = true; if (o.onDraw) o.onDraw(u); } }] },
    };
    const data = [o.times].concat(o.series.map((s) => s.values));
    const ro = new ResizeObserver(() => {
      if (!box.isConnected) {
        if (handle.u) { handle.u.destroy(); handle.u = null; ro.disconnect(); }
        return;
      }
      const width = Math.floor(box.clientWidth);
      if (width <= 0) return;
      if (!handle.u) handle.u = new uPlot(Object.assign({ width }, opts), data, box);
      else if (Math.abs(handle.u.width - width) > 1) handle.u.setSize({ width, height });
    });
    ro.observe(box);
    return handle;
  }

  // Spend and requests over time (rows grouped by `hour` or `day`, summed over the other
  // groups, empty steps as 0), for the Usage page (console.js).
  function usageChart(rows, time) {
    const step = time === "hour" ? 3600 : 86400;
    const at = (v) => Math.floor(Date.parse(time === "hour" ? v : `${v}T00:00:00Z`) / 1000);
    const sums = new Map();
    for (const r of rows) {
      const t = at(r[time]);
      if (!Number.isFinite(t)) continue;
      const s = sums.get(t) || { cost: 0, requests: 0 };
      s.cost += r.cost_usd || 0;
      s.requests += r.requests || 0;
      sums.set(t, s);
    }
    const box = el("div", { class: "chart-box" });
    const card = el("div", { class: "card usage-chart", id: "usage-chart" }, el("h2", { text: `Spend and requests per ${time} (UTC)` }), box);
    if (!sums.size) return card;
    const first = Math.min(...sums.keys());
    const last = Math.max(...sums.keys());
    const times = [];
    for (let t = first; t <= last && times.length < 20000; t += step) times.push(t);
    timeChart(box, {
      times, height: 240,
      scales: { usd: { fmt: usd }, n: { fmt: (v) => num(v) } },
      series: [
        { label: "spend ($)", scale: "usd", color: "#3451b2", values: times.map((t) => (sums.get(t) || { cost: 0 }).cost) },
        { label: "requests", scale: "n", color: "#f76b15", values: times.map((t) => (sums.get(t) || { requests: 0 }).requests) },
      ],
    });
    return card;
  }

  // ---- the Trends page ----

  const RANK = { failing: 3, degraded: 2, healthy: 1 };

  // `grades` (one per step) as at most GRADE_CELLS cells, each the worst grade of its steps.
  function gradeStrip(name, times, step, grades) {
    const n = grades.length;
    const cells = Math.min(n, GRADE_CELLS);
    const strip = el("div", { class: "grade-strip", "data-series": name, role: "img", "aria-label": `health grade of ${name}` });
    const kids = [];
    for (let c = 0; c < cells; c++) {
      const a = Math.floor((c * n) / cells);
      const b = Math.max(a + 1, Math.floor(((c + 1) * n) / cells));
      let worst = null;
      for (let i = a; i < b; i++) { const g = grades[i]; if (g && (!worst || RANK[g] > RANK[worst])) worst = g; }
      kids.push(el("span", { class: `grade-cell grade-${worst || "none"}`, title: `${when(times[a])} – ${when(times[b - 1] + step)}: ${worst || "no requests"}` }));
    }
    strip.append(...kids);
    return strip;
  }

  const total = (a) => { let t = 0; for (const v of a || []) if (v) t += v; return t; };
  const zeroed = (a, n) => { const out = new Array(n); for (let i = 0; i < n; i++) out[i] = (a && a[i]) || 0; return out; };
  const gaps = (a, n) => { const out = new Array(n); for (let i = 0; i < n; i++) out[i] = a && a[i] !== undefined ? a[i] : null; return out; };

  // The figures charted: field, title, formatter, whether no requests counts as 0.
  const METRICS = [
    ["requests", "Requests", count, true],
    ["errors", "Errors", count, true],
    ["p50_ms", "p50 latency", ms, false],
    ["p95_ms", "p95 latency", ms, false],
    ["p95_ttft_ms", "p95 time to first token", ms, false],
    ["tokens", "Tokens", count, true],
    ["cost_usd", "Spend", usd, true],
  ];

  async function trendsView(page) {
    const started = performance.now();
    const q = new URLSearchParams(location.hash.split("?")[1] || "");
    const by = ["model", "target", "route"].includes(q.get("by")) ? q.get("by") : "model";
    const range = RANGES.includes(q.get("range")) ? q.get("range") : "24h";
    const all = q.get("all") === "1";
    const params = new URLSearchParams({ by, range });
    for (const k of ["route", "model"]) if (q.get(k)) params.set(k, q.get(k));
    const [t, routes] = await Promise.all([api(`/admin/trends?${params}`), api("/admin/routes").catch(() => ({ routes: [] }))]);

    const go = (change) => {
      const n = new URLSearchParams({ by, range });
      for (const k of ["route", "model"]) if (q.get(k)) n.set(k, q.get(k));
      if (all) n.set("all", "1");
      for (const [k, v] of Object.entries(change)) { if (v) n.set(k, v); else n.delete(k); }
      location.hash = `#trends?${n}`;
    };
    const select = (id, value, options, onpick, label) => el("label", {}, label, el("select", { id, onchange: (e) => onpick(e.target.value) },
      options.map(([v, text]) => el("option", { value: v, text, selected: v === value }))));
    const routeNames = (routes.routes || []).map((r) => r.model);
    const modelNames = [...new Set((routes.routes || []).flatMap((r) => (r.targets || []).map((x) => x.model)))].sort();
    if (q.get("route") && !routeNames.includes(q.get("route"))) routeNames.push(q.get("route"));
    if (q.get("model") && !modelNames.includes(q.get("model"))) modelNames.push(q.get("model"));

    page.append(el("h1", { text: "Trends" }), el("div", { class: "row", id: "trends-controls" },
      select("trends-by", by, [["model", "model"], ["target", "target (provider/model)"], ["route", "route"]], (v) => go({ by: v }), "group by"),
      select("trends-range", range, RANGES.map((r) => [r, `last ${r}`]), (v) => go({ range: v }), "range"),
      select("trends-route", q.get("route") || "", [["", "every route"]].concat(routeNames.map((r) => [r, r])), (v) => go({ route: v }), "route"),
      select("trends-model", q.get("model") || "", [["", "every model"]].concat(modelNames.map((m) => [m, m])), (v) => go({ model: v }), "model")));
    if (t.enabled === false) { page.append(el("p", { class: "card", text: "Usage records are off: configure [usage] to see trends." })); return; }

    const times = t.times || [];
    const n = times.length;
    const step = t.step || 3600;
    // Busiest first; the first TOP are drawn unless "show all".
    const ranked = (t.series || []).map((s) => ({ s, requests: total(s.requests) })).sort((a, b) => b.requests - a.requests || String(a.s.name).localeCompare(String(b.s.name)));
    const shown = all ? ranked : ranked.slice(0, TOP);
    const status = el("span", { class: "muted", id: "trends-status" });
    page.append(el("div", { class: "row" },
      el("span", { class: "muted", text: `${ranked.length} ${by === "target" ? "targets" : by + "s"} · ${n} steps of one ${STEP_NAME[step] || step + " s"}${ranked.length > shown.length ? ` · the ${shown.length} busiest drawn` : ""}` }),
      ranked.length > TOP ? el("label", { class: "inline" }, el("input", { type: "checkbox", id: "trends-all", checked: all, onchange: (e) => go({ all: e.target.checked ? "1" : "" }) }), `show all ${ranked.length}`) : null,
      status));
    if (!ranked.length || !n) { page.append(el("p", { class: "card muted", id: "trends-empty", text: "No requests in this range." })); return; }

    const charts = el("div", { class: "trend-charts" });
    const sync = `trends-${Date.now()}`;
    let pending = METRICS.length;
    const drawn = () => {
      if (--pending) return;
      const took = Math.round(performance.now() - started);
      page.dataset.drawn = String(took);
      status.textContent = `drawn in ${took} ms`;
    };
    for (const [field, title, fmt, zero] of METRICS) {
      const box = el("div", { class: "chart-box" });
      charts.append(el("div", { class: "card trend-chart", "data-metric": field, "data-series": String(ranked.length), "data-shown": String(shown.length) },
        el("h2", { text: `${title}${zero && field !== "cost_usd" ? ` per ${STEP_NAME[step] || step + " s"}` : ""}` }), box));
      timeChart(box, {
        times, sync, height: 200, onDraw: drawn,
        scales: { y: { fmt } },
        series: shown.map(({ s }, i) => ({ label: s.name, color: color(i), values: zero ? zeroed(s[field], n) : gaps(s[field], n) })),
      });
    }
    page.append(charts);

    page.append(el("h2", { text: "Health grade per step" }), el("div", { class: "card grades" },
      el("div", { class: "grade-legend muted" }, ["healthy", "degraded", "failing", "none"].map((g) => el("span", {}, el("span", { class: `grade-cell grade-${g}` }), g === "none" ? "no requests" : g))),
      shown.map(({ s }) => el("div", { class: "grade-row" }, el("span", { class: "grade-name", text: s.name, title: s.name }), gradeStrip(s.name, times, step, s.grade || []))),
      el("div", { class: "grade-axis muted" }, el("span", { text: when(times[0]) }), el("span", { text: when(times[n - 1] + step) }))));

    const labels = (s) => Object.entries(s.errors_by || {}).map(([k, v]) => [k, total(v)]).filter((e) => e[1]).sort((a, b) => b[1] - a[1]);
    const last = (a) => { for (let i = (a || []).length - 1; i >= 0; i--) if (a[i]) return a[i]; return null; };
    page.append(el("h2", { text: "Totals in the range" }), table([
      ["", (r) => { const i = shown.indexOf(r); if (i < 0) return ""; const sw = el("span", { class: "u-tip-sw" }); sw.style.background = color(i); return sw; }],
      [by, (r) => r.s.name], ["requests", (r) => num(r.requests), "num"], ["errors", (r) => num(total(r.s.errors)), "num"],
      ["error rate", (r) => pct(r.requests ? total(r.s.errors) / r.requests : null), "num"],
      ["errors by label", (r) => labels(r.s).slice(0, 4).map(([k, v]) => `${k} ${num(v)}`).join(", ") || "–"],
      ["tokens", (r) => num(total(r.s.tokens)), "num"], ["spend", (r) => money(total(r.s.cost_usd)), "num"],
      ["last grade", (r) => { const g = last(r.s.grade); return g ? el("span", { class: `badge grade-${g}`, text: g }) : "–"; }],
    ], ranked, (r) => ({ "data-series": r.s.name })));
  }

  window.TIME_CHART = timeChart;
  window.USAGE_CHART = usageChart;
  window.INSIGHT_VIEWS = Object.assign(window.INSIGHT_VIEWS || {}, { trends: trendsView });
})();
