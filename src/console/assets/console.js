// The switchboard console: one page, its views drawn from the admin API. Everything
// shown is set as text (never parsed as HTML); changes carry the session's CSRF token.
// What the signed-in role may not do is not shown: a page it may not read has no link
// (`data-view-needs` on the nav) and is not drawn; a control that changes something
// says what it needs (`data-needs="operate|admin|keys_write"`) and is hidden, by the
// styles (keyed on the body's `data-can-*`) and by `gate()`, for a role without it.
"use strict";

let CSRF = null;
let refresh = null;
// `GET /admin/session`: name, role, team, via, csrf, can {read, operate, admin, keys_write}.
let SESSION = null;

// Whether the signed-in role may do `need` (nothing needed: anyone signed in).
function may(need) {
  return !need || !SESSION || !SESSION.can || SESSION.can[need] === true;
}

// Hides every control under `root` that needs what the role may not do.
function gate(root) {
  for (const e of (root || document).querySelectorAll("[data-needs], [data-view-needs]")) {
    if (!may(e.dataset.needs || e.dataset.viewNeeds)) e.hidden = true;
  }
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

async function api(path, opts = {}) {
  const init = { method: opts.method || "GET", credentials: "same-origin", headers: {} };
  if (init.method !== "GET") init.headers["x-csrf-token"] = CSRF || "";
  if (opts.body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  const r = await fetch(path, init);
  if (opts.raw) return r;
  const v = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((v.error && v.error.message) || `${r.status}`);
  return v;
}

const num = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: d }));
const money = (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(4));
const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%");
const when = (s) => (s ? new Date(s * 1000).toISOString().replace("T", " ").slice(0, 19) : "–");

function figure(id, key, value) {
  return el("div", { class: "figure" }, el("div", { class: "v", id, text: value }), el("div", { class: "k", text: key }));
}

// `attrs(row)`, when given, are the attributes of the row's `tr` (ids for tests and links).
function table(cols, rows, attrs) {
  return el("table", {},
    el("thead", {}, el("tr", {}, cols.map((c) => el("th", { text: c[0] })))),
    el("tbody", {}, rows.map((r) => el("tr", attrs ? attrs(r) : {}, cols.map((c) => {
      const v = c[1](r);
      return v instanceof Node ? el("td", {}, v) : el("td", { class: c[2] || "", text: v });
    })))));
}

function chart(title, points) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 300 100");
  svg.setAttribute("preserveAspectRatio", "none");
  const axis = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({ x1: 0, y1: 99, x2: 300, y2: 99, class: "axis" })) axis.setAttribute(k, v);
  svg.append(axis);
  const max = Math.max(1e-9, ...points.map((p) => p[1]));
  // One bar per point (an hour of a day has too few points for a line).
  const w = 300 / Math.max(points.length, 1);
  points.forEach((p, i) => {
    const h = (p[1] / max) * 90;
    const bar = document.createElementNS(ns, "rect");
    for (const [k, v] of Object.entries({ x: (i * w + w * 0.1).toFixed(1), y: (98 - h).toFixed(1), width: (w * 0.8).toFixed(1), height: h.toFixed(1), class: "bar" })) bar.setAttribute(k, v);
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${p[0]}: ${num(p[1], 4)}`;
    bar.append(tip);
    svg.append(bar);
  });
  const last = points.length ? points[points.length - 1][1] : null;
  return el("div", { class: "card chart" }, el("div", { class: "muted", text: `${title} — max ${num(max, 4)}, last ${num(last, 4)}` }), svg);
}

// ---- views ----

async function overview(page) {
  const now = Math.floor(Date.now() / 1000);
  const day = now - (now % 86400);
  const d = new Date();
  const month = Math.floor(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000);
  const [hours, today, monthly, all, stats] = await Promise.all([
    api(`/admin/usage?from=${now - 86400}&group=hour`),
    api(`/admin/usage?from=${day}&group=`),
    api(`/admin/usage?from=${month}&group=`),
    api(`/admin/usage?from=${now - 86400}&group=`),
    api("/admin/stats?hours=24"),
  ]);
  if (hours.enabled === false) {
    page.append(el("p", { class: "card", text: "Usage records are off: configure [usage] to see the overview." }));
    return;
  }
  const t = (all.rows && all.rows[0]) || {};
  const routes = stats.routes || [];
  const worst = (k) => Math.max(0, ...routes.map((r) => r[k] || 0));
  page.append(
    el("h1", { text: "Overview — last 24 hours" }),
    el("div", { class: "figures" },
      figure("ov-requests", "requests", num(t.requests)),
      figure("ov-rps", "requests/s (mean)", num((t.requests || 0) / 86400, 4)),
      figure("ov-errors", "error rate", pct(t.requests ? t.errors / t.requests : null)),
      figure("ov-p50", "p50 latency (worst route)", num(worst("p50_ms")) + " ms"),
      figure("ov-p95", "p95 latency (worst route)", num(worst("p95_ms")) + " ms"),
      figure("ov-ttft", "p95 time to first token", num(worst("ttft_p95_ms")) + " ms"),
      figure("ov-today", "spend today", money(today.rows && today.rows[0] ? today.rows[0].cost_usd : 0)),
      figure("ov-month", "spend this month", money(monthly.rows && monthly.rows[0] ? monthly.rows[0].cost_usd : 0)),
      figure("ov-cache", "cache hit rate", pct(t.requests ? t.cache_hits / t.requests : null)),
      figure("ov-tokens", "tokens", num((t.prompt_tokens || 0) + (t.completion_tokens || 0)))));
  const rows = (hours.rows || []).slice().reverse();
  const series = (f) => rows.map((r) => [r.hour, f(r)]);
  page.append(el("h2", { text: "By hour" }), el("div", { class: "charts" },
    chart("requests", series((r) => r.requests)),
    chart("errors", series((r) => r.errors)),
    chart("mean latency (ms)", series((r) => r.mean_duration_ms || 0)),
    chart("spend ($)", series((r) => r.cost_usd)),
    chart("tokens", series((r) => r.prompt_tokens + r.completion_tokens))));
  refresh = setTimeout(() => show(), 10000);
}

async function routesView(page) {
  const [routes, stats] = await Promise.all([api("/admin/routes"), api("/admin/stats?hours=1")]);
  const grade = {};
  for (const t of stats.targets || []) grade[`${t.route}/${t.provider}/${t.model}`] = t.grade;
  const health = await api("/admin/health").catch(() => ({}));
  page.append(el("h1", { text: "Routes & targets" }));
  for (const r of routes.routes) {
    const out = el("div", { class: "muted" });
    const test = el("button", { text: "Test", "data-needs": "operate", onclick: async () => {
      out.textContent = "testing…";
      const c = await api(`/admin/routes/${encodeURIComponent(r.model)}/test`, { method: "POST" }).catch((e) => ({ error: e.message }));
      out.textContent = c.error ? c.error : c.targets.map((x) => `${x.label}: ${x.status} in ${num(x.latency_ms)} ms${x.answer ? " — " + x.answer : ""}`).join("  |  ");
    } });
    const hr = (health.routes || []).find((h) => h.model === r.model) || { targets: [] };
    const live = (t) => hr.targets.find((h) => h.provider === t.provider && h.model === t.model);
    const set = async (t, change) => {
      await api(`/admin/overrides${change === null ? "/revert" : ""}`, { method: "POST", body: Object.assign({ route: r.model, provider: t.provider, model: t.model }, change || {}) });
      show();
    };
    page.append(el("div", { class: "card" },
      el("div", { class: "row" }, el("h2", { text: r.model }), el("span", { class: "muted", text: `strategy ${r.strategy}` }), test),
      out,
      table([
        ["target", (t) => `${t.provider}/${t.model}`],
        ["enabled", (t) => (t.enabled ? "yes" : "no")],
        ["weight", (t) => String(t.weight), "num"],
        ["circuit", (t) => (live(t) || {}).health || (t.enabled ? "–" : "disabled")],
        ["grade (1 h)", (t) => grade[`${r.model}/${t.provider}/${t.model}`] || "–"],
        ["latency (EWMA)", (t) => { const h = live(t); return h ? `${num(h.latency_ewma_us / 1000, 1)} ms` : "–"; }, "num"],
        ["error rate", (t) => { const h = live(t); return h ? pct(h.error_rate) : "–"; }, "num"],
        ["in flight", (t) => { const h = live(t); return h ? String(h.in_flight) : "–"; }, "num"],
        ["", (t) => {
          const w = el("input", { type: "number", min: "0", value: String(t.weight), class: "weight" });
          return el("span", { "data-needs": "operate" },
            el("button", { class: t.enabled ? "danger" : "", "data-target": `${r.model}/${t.provider}/${t.model}`, text: t.enabled ? "Disable" : "Enable", onclick: () => set(t, { enabled: !t.enabled }) }),
            " ", w, " ", el("button", { text: "Set weight", onclick: () => set(t, { weight: Number(w.value) }) }),
            " ", el("button", { text: "Revert", onclick: () => set(t, null) }));
        }],
      ], r.targets)));
  }
}

// What the usage can be summed by (`group=`), offered as checkboxes.
const USAGE_GROUPS = ["hour", "day", "route", "provider", "model", "key", "team", "user", "api"];

async function usageView(page) {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const group = q.has("group") ? q.get("group") : "day,route,model";
  const days = q.get("days") || "7";
  const query = `days=${encodeURIComponent(days)}&group=${encodeURIComponent(group)}`;
  const u = await api(`/admin/usage?${query}`);
  const chosen = new Set(group.split(",").map((g) => g.trim()).filter(Boolean));
  const boxes = USAGE_GROUPS.map((k) => el("input", { type: "checkbox", value: k, class: "usage-group", "data-group": k, checked: chosen.has(k) }));
  const d = el("input", { value: days, id: "usage-days", type: "number", min: "1" });
  page.append(el("h1", { text: "Usage & spend" }),
    el("div", { class: "row" },
      el("fieldset", { id: "usage-group", class: "checks" }, el("legend", { text: "group by" }), boxes.map((b) => el("label", { class: "inline" }, b, b.value))),
      el("label", {}, "days", d),
      el("button", { class: "primary", id: "usage-show", text: "Show", onclick: () => {
        const g = boxes.filter((b) => b.checked).map((b) => b.value).join(",");
        location.hash = `#usage?group=${encodeURIComponent(g)}&days=${encodeURIComponent(d.value)}`;
      } }),
      el("a", { href: `/admin/usage?${query}&format=csv`, download: "usage.csv", text: "Download CSV" })));
  if (u.enabled === false) { page.append(el("p", { text: "Usage records are off." })); return; }
  const groups = u.group || [];
  const time = groups.includes("hour") ? "hour" : (groups.includes("day") ? "day" : null);
  if (time && window.USAGE_CHART) page.append(window.USAGE_CHART(u.rows || [], time));
  page.append(table([
    ...groups.map((k) => [k, (r) => r[k] || "–"]),
    ["requests", (r) => num(r.requests), "num"], ["errors", (r) => num(r.errors), "num"],
    ["prompt", (r) => num(r.prompt_tokens), "num"], ["completion", (r) => num(r.completion_tokens), "num"],
    ["spend", (r) => money(r.cost_usd), "num"], ["mean ms", (r) => num(r.mean_duration_ms), "num"],
  ], u.rows || []));
  const top = !time && groups.includes("route") ? (u.rows || []).slice(0, 30) : [];
  if (top.length) page.append(chart("spend by row", top.map((r) => [r.route, r.cost_usd])));
}

async function budgetsView(page) {
  const [c, cfg] = await Promise.all([api("/admin/counters"), api("/admin/config")]);
  const counters = c.counters || [];
  const budgets = (cfg.policies || []).filter((p) => p.plugin === "builtin:budget");
  const setting = (p, k, d) => (p.settings[k] === undefined ? d : String(p.settings[k]).replace(/"/g, ""));
  const spend = [];
  for (const b of budgets) {
    const limit = Number(setting(b, "limit", "0"));
    for (const k of counters.filter((x) => x.plugin === b.name && x.key.startsWith("spend:"))) {
      const spent = k.value / 1e6;
      spend.push({ budget: b.name, per: setting(b, "per", "key"), period: setting(b, "period", setting(b, "window_secs", "month")), who: k.key.split(":").slice(1, -1).join(":") || k.key, limit, spent, k });
    }
    if (!counters.some((x) => x.plugin === b.name)) spend.push({ budget: b.name, per: setting(b, "per", "key"), period: setting(b, "period", "month"), who: "(nothing spent yet)", limit, spent: 0, k: null });
  }
  const reset = (k) => el("button", { class: "danger", text: "Reset", "data-needs": "operate", onclick: async () => { await api("/admin/counters/reset", { method: "POST", body: { plugin: k.plugin, key: k.key } }); show(); } });
  page.append(el("h1", { text: "Budgets & quotas" }), el("h2", { text: "Budgets" }),
    table([
      ["budget", (r) => r.budget], ["per", (r) => r.per], ["period", (r) => r.period], ["for", (r) => r.who],
      ["limit", (r) => money(r.limit), "num"], ["spent", (r) => money(r.spent), "num"], ["remaining", (r) => money(Math.max(0, r.limit - r.spent)), "num"],
      ["used", (r) => pct(r.limit ? r.spent / r.limit : null), "num"], ["", (r) => (r.k ? reset(r.k) : "")],
    ], spend),
    el("h2", { text: "Every counter" }), el("p", { class: "muted", text: `counters in ${c.backend}` }),
    table([
      ["plugin", (r) => r.plugin], ["counter", (r) => r.key], ["value", (r) => num(r.value), "num"],
      ["window", (r) => (r.window_secs ? `${r.window_secs} s` : "period")], ["resets in", (r) => (r.resets_in_secs ? `${num(r.resets_in_secs)} s` : "at the period's end")],
      ["", (r) => reset(r)],
    ], counters));
}

// The budgets, token quotas and request limits that follow key `r`, in `card`
// (`#key-limits`): money for budgets, counts for the others.
async function keyLimits(card, r) {
  card.hidden = false;
  card.dataset.key = r.name;
  card.replaceChildren(el("h2", { text: `Limits of key ${r.name}` }), el("p", { class: "muted", text: "reading…" }));
  const v = await api(`/admin/keys/${encodeURIComponent(r.id)}/limits`).catch((e) => ({ error: e.message }));
  if (card.dataset.key !== r.name) return; // another key's were asked for since
  const head = el("h2", { text: `Limits of key ${r.name}${v.user ? ` (end user ${v.user})` : ""}` });
  if (v.error) { card.replaceChildren(head, el("p", { class: "error", text: v.error })); return; }
  const policies = v.policies || [];
  if (!policies.length) { card.replaceChildren(head, el("p", { class: "muted", id: "key-limits-none", text: "No budget, token quota or request limit follows this key." })); return; }
  const fig = (p, f) => (p.error ? "–" : (p.kind === "budget" ? money(p[f]) : num(p[f])));
  card.replaceChildren(head, table([
    ["policy", (p) => p.name], ["kind", (p) => String(p.kind || "–").replace(/_/g, " ")],
    ["limit", (p) => (p.error ? el("span", { class: "error", text: p.error }) : fig(p, "limit")), "num"],
    ["used", (p) => fig(p, "used"), "num"], ["remaining", (p) => fig(p, "remaining"), "num"], ["resets", (p) => p.resets || "–"],
  ], policies, (p) => ({ "data-policy": p.name, "data-kind": p.kind })));
}

async function keysView(page) {
  // A team role sees and makes its team's keys only (the gateway fills the team in); it
  // may not read the config, so its teams are not listed. A key's own budget is set by
  // an admin, an operator or a team admin (within the team's cap), not a team member.
  const mine = (SESSION && SESSION.team) || null;
  const budgets = may("keys_write") && !/^team-member:/.test((SESSION && SESSION.role) || "");
  const cfg = may("read") ? await api("/admin/config").catch(() => ({})) : {};
  page.append(el("h1", { text: mine ? `Keys of team ${mine}` : "Keys & teams" }));
  const out = el("div", { id: "key-secret" });
  const list = el("div", { id: "keys-list" });
  // What a change did, or why it was refused (the API's words).
  const msg = el("p", { id: "keys-msg", role: "status", hidden: true });
  const say = (text, bad) => { msg.textContent = text || ""; msg.className = bad ? "error" : "good"; msg.hidden = !text; };
  const limits = el("div", { class: "card", id: "key-limits", hidden: true });
  const name = el("input", { id: "key-name", placeholder: "name" });
  const team = el("select", { id: "key-team", disabled: !!mine },
    mine ? el("option", { value: mine, text: mine }) : el("option", { value: "", text: "(no team)" }),
    mine ? null : (cfg.teams || []).map((t) => el("option", { value: t.name, text: t.name })));
  const models = el("input", { id: "key-models", placeholder: "models, comma separated (all when empty)" });
  const user = el("input", { id: "key-user", placeholder: "optional: the end user it is for" });
  const budget = el("input", { id: "key-budget", type: "number", step: "0.01", min: "0", class: "price", placeholder: "optional, $" });
  const setBudget = (r) => {
    const amount = el("input", { type: "number", step: "0.01", min: "0", name: "budget", class: "price", value: r.budget === null || r.budget === undefined ? null : String(r.budget), "aria-label": `own budget of ${r.name}` });
    return el("span", { "data-needs": "keys_write", hidden: !budgets }, amount, " ",
      el("button", { text: "Set budget", "data-action": "budget", onclick: async () => {
        if (!amount.value.trim() || !(Number(amount.value) > 0)) { say("a budget is an amount of money above 0", true); return; }
        try {
          await api(`/admin/keys/${encodeURIComponent(r.id)}`, { method: "PATCH", body: { budget: Number(amount.value) } });
          say(`${r.name}'s own budget is now ${money(Number(amount.value))}`);
          await load();
          if (!limits.hidden && limits.dataset.key === r.name) await keyLimits(limits, r);
        } catch (e) { say(e.message, true); }
      } }));
  };
  const load = async () => {
    const k = await api("/admin/keys").catch((e) => ({ error: e.message }));
    if (k.error) { list.replaceChildren(el("p", { class: "error", text: k.error })); return; }
    list.replaceChildren(table([
      ["id", (r) => r.id], ["name", (r) => r.name], ["team", (r) => r.team || "–"], ["models", (r) => (r.models ? r.models.join(", ") : "all")],
      ["user", (r) => r.user || "–"], ["made by", (r) => r.owner || "–"], ["own budget", (r) => money(r.budget), "num"],
      ["spend 30 d", (r) => money(r.spend_30d), "num"], ["expires", (r) => when(r.expires_at)], ["revoked", (r) => when(r.revoked_at)],
      ["", (r) => el("span", { class: "actions" },
        el("button", { text: "Limits", "data-action": "limits", onclick: () => keyLimits(limits, r) }),
        r.revoked_at ? null : [" ", setBudget(r), " ", el("span", { "data-needs": "keys_write" },
          el("button", { text: "Rotate", "data-action": "rotate", onclick: async () => {
            try {
              const v = await api(`/admin/keys/${r.id}/rotate`, { method: "POST" });
              out.replaceChildren(el("p", { text: `The new secret of ${r.name}, shown this once:` }), el("div", { class: "secret", text: v.secret }));
            } catch (e) { out.replaceChildren(el("p", { class: "error", text: e.message })); }
          } }), " ",
          el("button", { class: "danger", text: "Revoke", "data-action": "revoke", onclick: async () => {
            try { await api(`/admin/keys/${r.id}`, { method: "DELETE" }); await load(); } catch (e) { out.replaceChildren(el("p", { class: "error", text: e.message })); }
          } }))])],
    ], k.keys || [], (r) => ({ "data-key": r.name, "data-key-id": r.id })));
    gate(list);
  };
  page.append(el("div", { class: "card", "data-needs": "keys_write" }, el("h2", { text: "New virtual key" }),
    el("div", { class: "row" }, el("label", {}, "name", name), el("label", {}, "team", team), el("label", {}, "models", models), /^team-/.test((SESSION && SESSION.role) || "") ? null : el("label", {}, "end user", user),
      el("label", { hidden: !budgets }, "own budget", budget),
      el("button", { class: "primary", id: "key-create", text: "Create", onclick: async () => {
        const body = { name: name.value };
        if (team.value && !mine) body.team = team.value;
        if (models.value.trim()) body.models = models.value.split(",").map((m) => m.trim()).filter(Boolean);
        if (user.value.trim()) body.user = user.value.trim();
        if (budgets && budget.value.trim()) body.budget = Number(budget.value);
        try {
          const made = await api("/admin/keys", { method: "POST", body });
          out.replaceChildren(el("p", { text: "The secret, shown this once:" }), el("div", { class: "secret", id: "new-secret", text: made.secret }));
          await load();
          say("");
        } catch (e) { out.replaceChildren(); say(e.message, true); }
      } })), out));
  page.append(msg, list, limits);
  await load();
  if (cfg.teams) page.append(el("h2", { text: "Teams" }), table([["team", (t) => t.name], ["models", (t) => (t.models ? t.models.join(", ") : "all")], ["tags", (t) => t.tags.join(", ")], ["policies", (t) => t.policies.join(", ")]], cfg.teams));
}

async function alertsView(page) {
  const a = await api("/admin/alerts");
  page.append(el("h1", { text: "Alerts" }), el("h2", { text: "Firing" }),
    table([["rule", (r) => r.rule], ["subject", (r) => r.subject], ["since", (r) => when(r.since)], ["message", (r) => r.message]], a.active || []),
    el("h2", { text: "History" }),
    table([["at", (r) => when(r.at)], ["rule", (r) => r.rule], ["state", (r) => r.state], ["subject", (r) => r.subject], ["message", (r) => r.message], ["notified", (r) => (r.notified ? "yes" : "no")]], a.history || []),
    el("h2", { text: "Rules" }),
    table([["name", (r) => r.name], ["kind", (r) => r.kind], ["route", (r) => r.route || "any"], ["target", (r) => r.target || "–"], ["above", (r) => String(r.above)], ["window", (r) => `${r.window_secs} s`], ["webhook", (r) => (r.webhook ? "yes" : "no")]], a.rules || []));
}

async function pluginsView(page) {
  const p = await api("/admin/plugins");
  page.append(el("h1", { text: "Plugins" }), table([
    ["plugin", (r) => r.name], ["kind", (r) => r.kind], ["contract", (r) => r.contract || r.version || "–"],
    ["calls", (r) => num(r.calls), "num"], ["failures", (r) => Object.entries(r.failures || {}).filter((e) => e[1]).map((e) => `${e[0]} ${e[1]}`).join(", ") || "none"],
    ["quarantined", (r) => (r.quarantine && r.quarantine.quarantined ? "yes" : "no")], ["last error", (r) => r.last_error || "–"],
  ], p.plugins || []));
}

async function configView(page) {
  const [c, audit] = await Promise.all([api("/admin/config"), api("/admin/audit?limit=50")]);
  const msg = el("span", { class: "muted" });
  page.append(el("h1", { text: "Config" }),
    el("div", { class: "row" }, el("button", { class: "primary", text: "Reload config.toml", "data-needs": "operate", onclick: async () => {
      const r = await api("/admin/reload", { method: "POST", raw: true }); const v = await r.json(); msg.textContent = v.status === "reloaded" ? "reloaded" : `refused: ${v.error}`;
    } }), msg),
    el("p", { class: c.reloads && c.reloads.last_error ? "error" : "muted", text: c.reloads && c.reloads.last_error ? `last reload refused: ${c.reloads.last_error}` : "the last reload was accepted" }),
    el("h2", { text: "Overrides" }),
    table([["target", (o) => `${o.route}/${o.provider}/${o.model}`], ["enabled", (o) => (o.enabled === null ? "–" : String(o.enabled))], ["weight", (o) => (o.weight === null ? "–" : String(o.weight))], ["by", (o) => o.actor], ["at", (o) => when(o.updated)],
      ["", (o) => el("button", { text: "Revert", "data-needs": "operate", onclick: async () => { await api("/admin/overrides/revert", { method: "POST", body: { route: o.route, provider: o.provider, model: o.model } }); show(); } })]], c.overrides || []),
    el("h2", { text: "In force (secrets masked)" }), el("pre", { text: JSON.stringify(c, null, 2) }),
    el("h2", { text: "Audit log" }),
    table([["at", (e) => when(e.at)], ["who", (e) => e.actor], ["what", (e) => e.action], ["subject", (e) => e.subject], ["after", (e) => (e.after ? JSON.stringify(e.after).slice(0, 120) : "–")]], audit.entries || []));
}

async function compareView(page) {
  const routes = await api("/admin/routes");
  const prompt = el("textarea", { id: "compare-prompt", text: "Explain a hash map in one sentence." });
  const boxes = routes.routes.map((r) => el("label", {}, r.model, el("input", { type: "checkbox", value: r.model, class: "compare-route" })));
  const max = el("input", { id: "compare-max", type: "number", value: "64" });
  const temp = el("input", { id: "compare-temp", type: "number", step: "0.1", value: "0.2" });
  const cols = el("div", { class: "columns", id: "compare-results" });
  const past = await api("/admin/compare").catch(() => ({ comparisons: [] }));
  const column = (r) => el("div", { class: "card result" },
    el("h2", { text: r.label }),
    el("div", { class: "muted", text: `${r.status} · ${num(r.latency_ms)} ms · ${r.usage ? num(r.usage.prompt_tokens) + "+" + num(r.usage.completion_tokens) + " tokens" : ""} · ${money(r.cost_usd)} · ${r.finish_reason || ""}` }),
    el("div", { class: r.error ? "error answer" : "answer", text: r.error ? (r.error.message || JSON.stringify(r.error)) : r.answer }));
  const run = async () => {
    const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    cols.replaceChildren(...chosen.map((c) => el("div", { class: "card", "data-pending": c, text: `${c}: waiting…` })));
    const r = await api("/admin/compare", { method: "POST", raw: true, body: { prompt: prompt.value, routes: chosen, max_tokens: Number(max.value), temperature: Number(temp.value), stream: true } });
    if (!r.ok) { cols.replaceChildren(el("p", { class: "error", text: (await r.json()).error.message })); return; }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i); buf = buf.slice(i + 2);
        const name = (ev.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((ev.match(/^data: (.*)$/m) || [])[1] || "null");
        if (name === "start") {
          cols.replaceChildren(...data.entries.map((label) => el("div", { class: "card growing" }, el("h2", { text: label }), el("div", { class: "muted", text: "answering…" }), el("div", { class: "answer" }))));
        } else if (name === "delta") {
          const slot = cols.children[data.index];
          if (slot) slot.querySelector(".answer").textContent += data.text;
        } else if (name === "result") {
          const slot = cols.children[data.index];
          if (slot) slot.replaceWith(column(data)); else cols.append(column(data));
        }
      }
    }
  };
  page.append(el("h1", { text: "Compare" }), el("div", { class: "card", "data-needs": "operate" }, prompt,
    el("div", { class: "row" }, boxes, el("label", {}, "max tokens", max), el("label", {}, "temperature", temp),
      el("button", { class: "primary", id: "compare-run", text: "Compare", onclick: run }))), cols,
    el("h2", { text: "Earlier comparisons" }),
    table([["at", (c) => when(c.at)], ["by", (c) => c.actor], ["prompt", (c) => (c.request.prompt || "").slice(0, 80)],
      ["", (c) => el("button", { text: "Reopen", onclick: async () => { const v = await api(`/admin/compare/${c.id}`); cols.replaceChildren(...v.results.map(column)); } })]], past.comparisons || []));
}

const VIEWS = { overview, routes: routesView, usage: usageView, budgets: budgetsView, keys: keysView, alerts: alertsView, plugins: pluginsView, config: configView, compare: compareView };
// What a page needs of the role to be read (every other page: `read`). A team role reads
// its keys, its usage and its account only.
const VIEW_NEEDS = { keys: null, usage: null, requests: null, account: null, people: "admin" };
const viewNeeds = (name) => (name in VIEW_NEEDS ? VIEW_NEEDS[name] : "read");
// The registry's views (models, prompts, providers) come from registry.js; people and
// the account page from people.js; requests, errors (requests.js) and trends (trends.js)
// from `INSIGHT_VIEWS`.
const viewOf = (name) => VIEWS[name] || (window.REGISTRY_VIEWS || {})[name] || (window.PEOPLE_VIEWS || {})[name] || (window.INSIGHT_VIEWS || {})[name] || null;
const home = () => (may("read") ? "overview" : "keys");

async function show() {
  clearTimeout(refresh);
  let name = (location.hash.slice(1).split("?")[0]) || home();
  if (!viewOf(name) || !may(viewNeeds(name))) {
    name = home();
    history.replaceState(null, "", `#${name}`);
  }
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("on", a.getAttribute("href") === `#${name}`);
  const page = el("div", { id: `view-${name}` });
  try { await viewOf(name)(page); } catch (e) { page.append(el("p", { class: "error", text: e.message })); }
  gate(page);
  document.getElementById("page").replaceChildren(page);
  document.body.dataset.view = name;
}

// ---- sign-in ----

const SIGNIN_ERRORS = {
  locked: "This account is locked for 15 minutes after too many failed sign-ins.",
  unavailable: "Signing in is unavailable right now (the gateway could not open a session): try again in a moment.",
  disabled: "No way to sign in is configured on this gateway.",
};
const SSO_ERRORS = {
  off: "Single sign-on is not configured on this gateway.",
  idp_unreachable: "The identity provider could not be reached: try again in a moment, or sign in another way.",
  state: "That single sign-on expired or was not started here: start it again.",
  exchange: "The identity provider did not accept the sign-in: start it again.",
  token: "The identity provider's answer could not be verified, so it was refused.",
  no_name: "The identity provider did not say who you are: ask an admin to check the user claim.",
  no_role: "You signed in at the identity provider, but none of your groups has a role here: ask an admin for one.",
  taken: "That name belongs to a local account or to another identity here: ask an admin.",
  refused: "This account may not sign in here (it is disabled): ask an admin.",
  throttled: "Too many failed sign-ins from this address: wait a minute, then try again.",
};
// Which form was used last (for the message after a refusal), kept for this tab.
const LAST = "switchboard-signin";

function remember(via, user) {
  try { sessionStorage.setItem(LAST, JSON.stringify({ via, user: user || "" })); } catch (e) { /* storage off: no matter */ }
}

function recalled() {
  try { return JSON.parse(sessionStorage.getItem(LAST) || "{}") || {}; } catch (e) { return {}; }
}

// The sign-in page: the ways `/console/methods` offers (all of them when it cannot say),
// and why the last attempt failed.
async function signinPage() {
  const $ = (id) => document.getElementById(id);
  let m = null;
  try {
    const r = await fetch("/console/methods", { credentials: "same-origin" });
    if (r.ok) m = await r.json();
  } catch (e) { /* shown below: every way */ }
  const methods = m || { password: true, sso: null, token: true };
  const last = recalled();
  const q = new URLSearchParams(location.search);
  let error = null;
  if (q.has("sso")) error = SSO_ERRORS[q.get("sso")] || `Single sign-on failed (${q.get("sso")}).`;
  else if (q.has("denied")) error = last.via === "token" ? "That token is not the admin token." : (last.via === "password" ? "That name and password do not sign in." : "That did not sign in.");
  else for (const k of Object.keys(SIGNIN_ERRORS)) if (q.has(k)) error = SIGNIN_ERRORS[k];
  $("signin-error").textContent = error || "";
  $("signin-error").hidden = !error;

  $("password-form").hidden = !methods.password;
  const sso = $("sso-link");
  if (methods.sso) {
    sso.textContent = methods.sso.label || "Sign in with single sign-on";
    sso.setAttribute("href", methods.sso.url || "/console/sso");
  }
  sso.hidden = !methods.sso;
  const token = $("token-signin");
  token.hidden = !methods.token;
  // Open at once when it is the only way, or when it was what was tried last.
  token.open = methods.token && (!methods.password && !methods.sso || last.via === "token" || !m);
  $("signin-button").classList.toggle("primary", !methods.password);
  $("signin-none").hidden = !!(methods.password || methods.sso || methods.token);
  $("password-form").addEventListener("submit", () => remember("password", $("login-user").value));
  $("token-form").addEventListener("submit", () => remember("token"));
  if (last.user && methods.password) $("login-user").value = last.user;
  $("signin").hidden = false;
  const first = token.open && !methods.password ? $("token") : (methods.password ? (last.user ? $("login-password") : $("login-user")) : null);
  if (first) first.focus();
}

// Signing out is a change (with the CSRF token). It is sent by the script, not as the
// form: after single sign-on the gateway sends the browser on to the IdP's sign-out
// page, a redirect the page's `form-action 'self'` would block. When the answer says
// where to go (`{"redirect": url}`), the browser goes there; else back to the sign-in
// page.
async function signOut(ev) {
  ev.preventDefault();
  let to = "/";
  try {
    const r = await fetch("/console/logout", {
      method: "POST", credentials: "same-origin", redirect: "manual",
      headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: CSRF || "" }).toString(),
    });
    if (r.ok && (r.headers.get("content-type") || "").includes("json")) {
      const v = await r.json();
      if (typeof v.redirect === "string" && /^(https?:\/\/|\/)/.test(v.redirect)) to = v.redirect;
    }
  } catch (e) { /* the page drawn again says whether the session lives on */ }
  remember("");
  location.assign(to);
}

async function boot() {
  const r = await fetch("/admin/session", { credentials: "same-origin" });
  if (!r.ok) {
    await signinPage();
    return;
  }
  const s = await r.json();
  SESSION = s;
  CSRF = s.csrf;
  const can = s.can || { read: true, operate: true, admin: true, keys_write: true };
  SESSION.can = can;
  const b = document.body.dataset;
  b.role = s.role || "";
  b.canRead = String(can.read === true);
  b.canOperate = String(can.operate === true);
  b.canAdmin = String(can.admin === true);
  b.canKeysWrite = String(can.keys_write === true);
  document.getElementById("signout-csrf").value = CSRF || "";
  document.getElementById("actor").textContent = s.name && s.role ? `${s.name} · ${s.role}` : s.actor;
  document.getElementById("actor").title = s.actor || "";
  document.getElementById("signout").addEventListener("submit", signOut);
  gate(document.getElementById("nav"));
  document.getElementById("app").hidden = false;
  window.addEventListener("hashchange", show);
  await show();
}

document.addEventListener("DOMContentLoaded", boot);
