// The Requests and Errors pages. Requests: the usage records one by one, newest first
// (`GET /admin/requests`), filtered by a form whose values live in the URL's hash
// (`#requests?key=k1&status=error`; `#requests?id=req_…` opens one request), a page at a
// time ("Load more" follows the cursor). A row opens the request: its fields, its story
// as a timeline (each attempt a bar placed by when it started and how long it took within
// the request, the strategy's order, skipped targets, each policy's verdict and headers,
// redactions, headers set), its captured bodies, and Replay: the captured request sent
// again through a route, the original and the new answer side by side. Errors: the
// error labels seen in a range (`GET /admin/errors`), each linking to its requests.
// Drawn with console.js's helpers (`el`, `api`, `table`, `num`, `money`, `when`, `gate`);
// everything shown is set as text; bars are placed through the CSSOM (no style
// attributes: the CSP). Handed to console.js's `show()` in `window.INSIGHT_VIEWS`.
"use strict";

(() => {
  const enc = encodeURIComponent;
  const now = () => Math.floor(Date.now() / 1000);
  const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
  // The filters passed on to the API as they are (besides the range and the status).
  const FILTERS = ["route", "model", "provider", "key", "team", "user", "api", "error", "min_ms", "min_cost", "q"];
  const STATUSES = [["", "all"], ["ok", "ok"], ["error", "error"], ["2xx", "2xx"], ["4xx", "4xx"], ["5xx", "5xx"]];
  const PAGE = 50;
  const hashParams = () => new URLSearchParams(location.hash.split("?")[1] || "");
  const ms = (v) => (v === null || v === undefined ? "–" : `${num(v)} ms`);
  const isNum = (v) => /^\d+$/.test(v || "");
  // Unix seconds as a `datetime-local` value (read as UTC) and back.
  const toLocalInput = (s) => (isNum(s) ? new Date(Number(s) * 1000).toISOString().slice(0, 16) : (s || ""));
  const fromLocalInput = (v) => (v ? String(Math.floor(Date.parse(v.length === 16 ? `${v}:00Z` : `${v}Z`) / 1000)) : "");
  const goHash = (hash) => { if (location.hash === hash) show(); else location.hash = hash; };

  // The range the hash names: `range` (1h 24h 7d 30d), or `from`/`to` (custom).
  function rangeOf(h) {
    if (h.get("range") === "custom" || (!h.get("range") && (h.get("from") || h.get("to")))) return "custom";
    return RANGES[h.get("range")] ? h.get("range") : "24h";
  }

  function apiQuery(h) {
    const p = new URLSearchParams();
    const range = rangeOf(h);
    if (range === "custom") {
      if (h.get("from")) p.set("from", h.get("from"));
      if (h.get("to")) p.set("to", h.get("to"));
    } else p.set("from", String(now() - RANGES[range]));
    for (const k of FILTERS) if (h.get(k)) p.set(k, h.get(k));
    if (h.get("status")) p.set("status", h.get("status"));
    return p;
  }

  // The filter bar, filled from the hash; submitting it sets the hash (and so redraws).
  function filterForm(h) {
    const range = rangeOf(h);
    const field = (name, label, attrs) => el("label", {}, label,
      el("input", Object.assign({ name, id: `requests-${name}`, value: h.get(name) || "" }, attrs || {})));
    const from = el("input", { type: "datetime-local", name: "from", id: "requests-from", value: toLocalInput(h.get("from")) });
    const to = el("input", { type: "datetime-local", name: "to", id: "requests-to", value: toLocalInput(h.get("to")) });
    const custom = el("span", { class: "custom-range", hidden: range !== "custom" },
      el("label", {}, "from (UTC)", from), el("label", {}, "to (UTC)", to));
    const rangeSel = el("select", { name: "range", id: "requests-range", onchange: (e) => { custom.hidden = e.target.value !== "custom"; } },
      Object.keys(RANGES).map((r) => el("option", { value: r, text: `last ${r}`, selected: r === range })),
      el("option", { value: "custom", text: "custom…", selected: range === "custom" }));
    const form = el("form", { id: "requests-filter", class: "card filters", onsubmit: (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const p = new URLSearchParams();
      if (f.get("range") === "custom") {
        p.set("range", "custom");
        if (f.get("from")) p.set("from", fromLocalInput(f.get("from")));
        if (f.get("to")) p.set("to", fromLocalInput(f.get("to")));
      } else if (f.get("range") !== "24h") p.set("range", f.get("range"));
      for (const k of FILTERS.concat(["status"])) { const v = String(f.get(k) || "").trim(); if (v) p.set(k, v); }
      const s = p.toString();
      goHash(`#requests${s ? "?" + s : ""}`);
    } },
    el("div", { class: "row" }, el("label", {}, "range", rangeSel), custom,
      field("route", "route"), field("model", "model"), field("provider", "provider"), field("key", "key"),
      field("team", "team"), field("user", "end user")),
    el("div", { class: "row" },
      el("label", {}, "status", el("select", { name: "status", id: "requests-status" },
        STATUSES.concat(h.get("status") && !STATUSES.some((s) => s[0] === h.get("status")) ? [[h.get("status"), h.get("status")]] : [])
          .map(([v, t]) => el("option", { value: v, text: t, selected: v === (h.get("status") || "") })))),
      field("error", "error label"), field("min_ms", "min duration (ms)", { type: "number", min: "0", class: "short" }),
      field("min_cost", "min cost ($)", { type: "number", min: "0", step: "any", class: "short" }),
      field("q", "search", { type: "search", placeholder: "text in captured bodies" }),
      h.get("api") ? el("input", { type: "hidden", name: "api", value: h.get("api") }) : null,
      el("button", { type: "submit", class: "primary", id: "requests-apply", text: "Show" }),
      el("a", { href: "#requests", class: "button", text: "Clear" })));
    return form;
  }

  const statusCell = (r) => el("span", { class: r.status >= 400 || r.error ? "error" : "good", text: String(r.status) });
  const COLUMNS = [
    ["time (UTC)", (r) => when(r.ts)],
    ["request", (r) => el("code", { text: r.request_id })],
    ["route", (r) => r.route || "–"], ["model", (r) => r.model || "–"], ["provider", (r) => r.provider || "–"], ["key", (r) => r.key || "–"],
    ["status", statusCell],
    ["error", (r) => (r.error ? el("span", { class: "error", title: r.error_message || "", text: r.error }) : "–")],
    ["tokens in/out", (r) => `${num(r.prompt_tokens)} / ${num(r.completion_tokens)}`, "num"],
    ["cost", (r) => (r.estimated ? "~" : "") + money(r.cost_usd), "num"],
    ["duration", (r) => ms(r.duration_ms), "num"], ["TTFT", (r) => ms(r.ttft_ms), "num"],
    ["tries", (r) => num(r.attempts), "num"],
    ["cache", (r) => r.cache || "–"],
    ["body", (r) => (r.captured ? el("span", { class: "captured", title: "request and response bodies captured", text: "●" }) : "")],
  ];

  // ---- one request ----

  const pretty = (text) => { try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; } };
  const partsText = (c) => (typeof c === "string" ? c : Array.isArray(c) ? c.map((p) => (typeof p === "string" ? p : p.text || "")).join("") : null);

  // The answer's text in a body (chat completions, messages, responses; JSON or SSE).
  function answerOf(text) {
    if (!text) return null;
    let v = null;
    try { v = JSON.parse(text); } catch (e) { v = null; }
    if (v && typeof v === "object") {
      const c = v.choices && v.choices[0];
      if (c && c.message) return partsText(c.message.content);
      if (c && typeof c.text === "string") return c.text;
      if (Array.isArray(v.content)) return v.content.filter((p) => p.type === "text").map((p) => p.text).join("");
      if (typeof v.output_text === "string") return v.output_text;
      if (Array.isArray(v.output)) return v.output.flatMap((o) => o.content || []).filter((p) => p.type === "output_text").map((p) => p.text).join("") || null;
      return null;
    }
    if (!/^data:/m.test(text)) return null;
    let out = "";
    for (const line of text.split("\n")) {
      const m = line.match(/^data:\s?(.*)$/);
      if (!m || m[1] === "[DONE]") continue;
      let d = null;
      try { d = JSON.parse(m[1]); } catch (e) { continue; }
      const delta = d.choices && d.choices[0] && d.choices[0].delta;
      if (delta && typeof delta.content === "string") out += delta.content;
      else if (d.type === "content_block_delta" && d.delta && typeof d.delta.text === "string") out += d.delta.text;
      else if (d.type === "response.output_text.delta" && typeof d.delta === "string") out += d.delta;
    }
    return out || null;
  }

  // An attempt that got an answer below 400 and no failure.
  const answered = (a) => !a.failure && a.status !== null && a.status !== undefined && a.status < 400;

  const kv = (pairs) => el("dl", { class: "fields" }, pairs.filter((p) => p).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v))]));

  function fieldsOf(r) {
    return kv([
      ["time (UTC)", when(r.ts)], ["api", r.api || "–"], ["route", r.route || "–"], ["key", r.key || "–"],
      ["team", r.team || "–"], ["end user", r.user || "–"], ["provider", r.provider || "–"], ["model", r.model || "–"],
      ["status", statusCell(r)], ["error", r.error ? `${r.error}${r.error_message ? ": " + r.error_message : ""}` : "–"],
      ["prompt tokens", `${num(r.prompt_tokens)}${r.cached_tokens ? ` (${num(r.cached_tokens)} cached)` : ""}`],
      ["completion tokens", num(r.completion_tokens)], ["cost", `${money(r.cost_usd)}${r.estimated ? " (estimated)" : ""}`],
      ["duration", ms(r.duration_ms)], ["time to first token", ms(r.ttft_ms)], ["gateway overhead", ms(r.overhead_ms)],
      ["attempts", num(r.attempts)], ["cache", r.cache || "–"], ["bodies captured", r.captured ? "yes" : "no"],
    ]);
  }

  // The story: the order tried, the attempts on a timeline, what was skipped, the
  // policies' verdicts, the redactions and the headers set.
  function storyOf(r, s) {
    const box = el("div", { class: "story", id: "request-story" });
    const atts = s.attempts || [];
    const end = Math.max(1, r.duration_ms || 0, ...atts.map((a) => (a.start_ms || 0) + (a.duration_ms || 0)));
    const key = (a) => `${a.provider}/${a.model}`;
    if ((s.order || []).length) {
      box.append(el("h3", { text: "Strategy order" }), el("ol", { class: "story-order" }, s.order.map((o) => {
        const tries = atts.filter((a) => key(a) === o);
        const state = !tries.length ? "untried" : tries.some(answered) ? "ok" : "failed";
        return el("li", { class: `order-${state}`, "data-target": o }, o, el("span", { class: "muted", text: state === "untried" ? " — not tried" : ` — ${tries.length} attempt${tries.length > 1 ? "s" : ""}, ${state}` }));
      })));
    }
    box.append(el("h3", { text: `Attempts (${atts.length}) over ${num(end)} ms` }));
    const tl = el("div", { class: "timeline", id: "story-timeline" });
    tl.append(el("div", { class: "tl-scale" }, el("span", {}), el("div", { class: "tl-ticks" }, [0, 0.25, 0.5, 0.75, 1].map((f) => {
      const t = el("span", { class: "tl-tick", text: `${num(end * f)} ms` });
      t.style.left = `${f * 100}%`;
      return t;
    }))));
    atts.forEach((a, i) => {
      const ok = answered(a);
      const bar = el("div", { class: `tl-bar ${ok ? "ok" : "failed"}`, title: `${key(a)}: starts at ${num(a.start_ms)} ms, takes ${num(a.duration_ms)} ms` });
      bar.style.left = `${Math.min(100, ((a.start_ms || 0) / end) * 100)}%`;
      bar.style.width = `${Math.max(0.4, Math.min(100 - ((a.start_ms || 0) / end) * 100, ((a.duration_ms || 0) / end) * 100))}%`;
      tl.append(el("div", { class: `story-attempt ${ok ? "ok" : "failed"}`, "data-index": String(i), "data-target": key(a) },
        el("div", { class: "tl-label" }, el("strong", { text: `${i + 1}. ${key(a)}` }),
          el("span", { class: ok ? "good" : "error", text: ` ${a.status === null || a.status === undefined ? "no answer" : a.status} · ${num(a.duration_ms)} ms` })),
        el("div", { class: "tl-track" }, bar),
        a.failure ? el("div", { class: "tl-failure error", text: a.failure }) : null));
    });
    if (!atts.length) tl.append(el("p", { class: "muted", text: "No upstream attempt (answered by the gateway)." }));
    box.append(tl);
    if ((s.skipped || []).length) box.append(el("h3", { text: "Skipped" }), el("ul", { class: "story-skipped" }, s.skipped.map((x) => el("li", { text: x }))));
    if ((s.policies || []).length) {
      box.append(el("h3", { text: "Policies" }), el("div", { class: "story-policies" }, s.policies.map((p) => el("div", { class: `story-policy verdict-${p.verdict}`, "data-policy": p.name },
        el("div", { class: "row" }, el("strong", { text: p.name }), el("span", { class: `badge verdict-${p.verdict}`, text: p.verdict }),
          p.code ? el("code", { text: p.code }) : null, p.message ? el("span", { class: "muted", text: p.message }) : null),
        (p.headers || []).length ? table([["header", (x) => x[0]], ["value", (x) => x[1], "num"]], p.headers) : null))));
    }
    const masked = s.masked || {};
    const kinds = [...new Set(Object.keys(masked.request || {}).concat(Object.keys(masked.response || {})))].sort();
    if (kinds.length) {
      const redactions = table([["kind", (k) => k], ["in the request", (k) => num((masked.request || {})[k] || 0), "num"], ["in the response", (k) => num((masked.response || {})[k] || 0), "num"]], kinds);
      redactions.id = "story-masked";
      box.append(el("h3", { text: "Redacted" }), redactions);
    }
    if ((s.headers || []).length) box.append(el("h3", { text: "Headers set on the answer" }), table([["header", (x) => x[0]], ["value", (x) => x[1]]], s.headers));
    const notes = [s.cache ? `cache ${s.cache}` : null, s.overhead_ms !== null && s.overhead_ms !== undefined ? `gateway overhead ${num(s.overhead_ms)} ms` : null].filter(Boolean);
    if (notes.length) box.append(el("p", { class: "muted", text: notes.join(" · ") }));
    return box;
  }

  function bodyBlock(title, text, truncated, id) {
    if (text === null || text === undefined) return el("div", {}, el("h3", { text: title }), el("p", { class: "muted", text: "not captured" }));
    return el("div", {}, el("h3", {}, title, truncated ? el("span", { class: "badge truncated", text: "truncated" }) : null),
      el("pre", { id, class: "body", text: truncated ? text : pretty(text) }));
  }

  // One side of a replay: the route, status, time and answer (prominent), then the body.
  function replaySide(cls, title, v, duration) {
    const answer = answerOf(v.body);
    return el("div", { class: `card ${cls}` }, el("h3", { text: `${title} — route ${v.route || "–"}` }),
      el("div", { class: "muted" }, el("span", { class: v.status >= 400 ? "error" : "good", text: `status ${v.status === null || v.status === undefined ? "–" : v.status}` }), ` · ${ms(duration)}`,
        v.request_id ? [" · ", el("a", { href: `#requests?id=${enc(v.request_id)}`, class: "replay-id", text: v.request_id })] : null),
      answer !== null ? el("div", { class: "answer replay-answer", text: answer }) : el("p", { class: "muted", text: v.body ? "(no answer text found in the body)" : "(no body)" }),
      v.body ? el("details", { open: answer === null }, el("summary", { text: "body" }), el("pre", { class: "body", text: pretty(v.body) })) : null);
  }

  function replayBox(r, routes) {
    // What the gateway replays: a chat completion whose request was captured whole.
    const why = r.capture.request_truncated ? "Its captured request was cut at the capture's size limit, so it cannot be replayed."
      : (r.api && r.api !== "chat" ? `Only chat completions are replayed (this is ${r.api}).` : null);
    if (why) return el("div", { class: "replay", "data-needs": "operate" }, el("h3", { text: "Replay" }), el("p", { class: "muted", id: "replay-off", text: why }));
    const names = routes.slice();
    if (r.route && !names.includes(r.route)) names.unshift(r.route);
    const pick = el("select", { id: "replay-route" }, names.map((n) => el("option", { value: n, text: n, selected: n === r.route })));
    const out = el("div", { id: "replay-result", class: "columns" });
    const go = el("button", { id: "replay-go", class: "primary", text: "Replay", onclick: async () => {
      go.disabled = true;
      out.replaceChildren(el("p", { class: "muted", text: `replaying through ${pick.value}…` }));
      try {
        const v = await api(`/admin/requests/${enc(r.request_id)}/replay`, { method: "POST", body: { route: pick.value } });
        out.replaceChildren(replaySide("replay-original", "Original", v.original || {}, r.duration_ms),
          replaySide("replay-new", "Replay", v.replay || {}, (v.replay || {}).duration_ms));
      } catch (e) { out.replaceChildren(el("p", { class: "error", id: "replay-error", text: e.message })); }
      go.disabled = false;
    } });
    return el("div", { class: "replay", "data-needs": "operate" }, el("h3", { text: "Replay" }),
      el("p", { class: "muted", text: "Sends the captured request again through a route (a real upstream call, billed and recorded as a new request)." }),
      el("div", { class: "row" }, el("label", {}, "route", pick), go), out);
  }

  async function openDetail(card, id, routes) {
    card.hidden = false;
    card.dataset.id = id;
    card.replaceChildren(el("p", { class: "muted", text: `reading ${id}…` }));
    let r;
    try { r = await api(`/admin/requests/${enc(id)}`); } catch (e) {
      if (card.dataset.id === id) card.replaceChildren(el("p", { class: "error", text: `${id}: ${e.message}` }));
      return;
    }
    if (card.dataset.id !== id) return; // another was opened since
    const c = r.capture;
    card.replaceChildren(
      el("div", { class: "row" }, el("h2", { text: `Request ${r.request_id}` }),
        el("button", { text: "Close", id: "request-close", onclick: () => { card.hidden = true; card.dataset.id = ""; mark(null); } })),
      fieldsOf(r),
      el("h2", { text: "Story" }),
      r.story ? storyOf(r, r.story) : el("p", { class: "muted", id: "story-none", text: "No story was kept for this request." }),
      el("h2", { text: "Bodies" }),
      c ? el("div", { class: "columns bodies" }, bodyBlock("Request", c.request, c.request_truncated, "capture-request"),
        bodyBlock("Response", c.response, c.response_truncated, "capture-response"))
        : el("p", { class: "muted", id: "capture-none", text: "The bodies were not captured (capture is off for this route, or they have been purged)." }),
      c ? replayBox(r, routes) : null);
    gate(card);
  }

  // Marks the open request's row, and names it in the URL (`open=`) without redrawing.
  function mark(id) {
    for (const tr of document.querySelectorAll("tr.request-row")) tr.classList.toggle("selected", tr.dataset.id === id);
    const h = hashParams();
    if (id) h.set("open", id); else h.delete("open");
    const s = h.toString();
    history.replaceState(null, "", `#requests${s ? "?" + s : ""}`);
  }

  async function requestsView(page) {
    const h = hashParams();
    const one = h.get("id");
    const routesP = api("/admin/routes").then((v) => (v.routes || []).map((r) => r.model)).catch(() => []);
    page.append(el("h1", { text: "Requests" }), filterForm(h));
    const detail = el("div", { class: "card", id: "request-detail", hidden: true });
    const routes = await routesP;
    const rowAttrs = (r) => ({ class: "request-row", "data-id": r.request_id, tabindex: "0",
      onclick: () => { mark(r.request_id); openDetail(detail, r.request_id, routes); detail.scrollIntoView({ block: "start" }); },
      onkeydown: (e) => { if (e.key === "Enter") e.currentTarget.click(); } });
    let rows = [];
    let next = null;
    if (one) {
      let r;
      try { r = await api(`/admin/requests/${enc(one)}`); } catch (e) {
        page.append(el("p", { class: "error", id: "requests-message", text: `${one}: ${e.message}` }));
        return;
      }
      rows = [r];
    } else {
      const q = apiQuery(h);
      q.set("limit", String(PAGE));
      const v = await api(`/admin/requests?${q}`);
      if (v.enabled === false) { page.append(el("p", { class: "card", text: "Usage records are off: configure [usage] to list requests." })); return; }
      rows = v.requests || [];
      next = v.next || null;
    }
    const list = table(COLUMNS, rows, rowAttrs);
    list.id = "requests-table";
    list.classList.add("requests");
    const body = list.querySelector("tbody");
    const count = el("span", { class: "muted", id: "requests-count" });
    const tell = () => { count.textContent = `${body.children.length} request${body.children.length === 1 ? "" : "s"}${next ? " (more below)" : ""}`; };
    const more = el("button", { id: "requests-more", text: "Load more", hidden: !next, onclick: async () => {
      more.disabled = true;
      const q = apiQuery(h);
      q.set("limit", String(PAGE));
      q.set("cursor", next);
      try {
        const v = await api(`/admin/requests?${q}`);
        body.append(...table(COLUMNS, v.requests || [], rowAttrs).querySelector("tbody").children);
        next = v.next || null;
      } catch (e) { count.textContent = e.message; }
      more.disabled = false;
      more.hidden = !next;
      tell();
    } });
    tell();
    page.append(detail, el("div", { class: "row" }, count),
      rows.length ? list : el("p", { class: "card muted", id: "requests-none", text: "No request matches." }), more);
    const open = one || h.get("open");
    if (open) openDetail(detail, open, routes).then(() => mark(open));
  }

  // ---- errors ----

  async function errorsView(page) {
    const h = hashParams();
    const range = RANGES[h.get("range")] ? h.get("range") : "24h";
    const p = new URLSearchParams({ from: String(now() - RANGES[range]) });
    for (const k of ["route", "provider"]) if (h.get(k)) p.set(k, h.get(k));
    const v = await api(`/admin/errors?${p}`);
    page.append(el("h1", { text: "Errors" }), el("div", { class: "row" },
      el("label", {}, "range", el("select", { id: "errors-range", onchange: (e) => {
        const n = new URLSearchParams(h);
        n.set("range", e.target.value);
        location.hash = `#errors?${n}`;
      } }, Object.keys(RANGES).map((r) => el("option", { value: r, text: `last ${r}`, selected: r === range })))),
      h.get("route") ? el("span", { class: "muted", text: `route ${h.get("route")}` }) : null,
      h.get("provider") ? el("span", { class: "muted", text: `provider ${h.get("provider")}` }) : null));
    if (v.enabled === false) { page.append(el("p", { class: "card", text: "Usage records are off: configure [usage] to see errors." })); return; }
    const errors = v.errors || [];
    if (!errors.length) { page.append(el("p", { class: "card muted", id: "errors-none", text: "No errors in this range." })); return; }
    const link = (e) => {
      const q = new URLSearchParams();
      if (e.label) q.set("error", e.label);
      if (e.route) q.set("route", e.route);
      if (e.provider) q.set("provider", e.provider);
      if (e.first) q.set("from", String(e.first));
      return el("a", { href: `#requests?${q}`, class: "errors-requests", text: "requests" });
    };
    const t = table([
      ["label", (e) => el("span", { class: "error", text: e.label || "–" })], ["provider", (e) => e.provider || "–"], ["route", (e) => e.route || "–"],
      ["message", (e) => el("span", { class: "message", text: e.message || "–" })], ["count", (e) => num(e.count), "num"],
      ["first seen", (e) => when(e.first)], ["last seen", (e) => when(e.last)], ["", link],
      ["samples", (e) => el("span", { class: "samples" }, (e.samples || []).flatMap((id, i) => [i ? " " : null, el("a", { href: `#requests?id=${enc(id)}`, text: id })]))],
    ], errors, (e) => ({ "data-label": e.label, "data-route": e.route || "", "data-provider": e.provider || "" }));
    t.id = "errors-table";
    page.append(t);
  }

  window.INSIGHT_VIEWS = Object.assign(window.INSIGHT_VIEWS || {}, { requests: requestsView, errors: errorsView });
})();
