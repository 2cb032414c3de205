// The registry's pages of the console: models (routes with a lifecycle), providers (with
// their credentials) and prompts, each with its versions and a rollback. Drawn with
// console.js's helpers (`el`, `api`, `table`, `num`, `money`, `when`); everything shown is
// set as text. The views are handed to console.js's `show()` as `window.REGISTRY_VIEWS`;
// the edit forms are registry-edit.js's (`window.REGISTRY_EDIT`), which uses the helpers
// this file hands it as `window.REGISTRY_KIT`.
"use strict";

(() => {
  const STATES = ["draft", "testing", "active", "deprecated", "retired"];
  const CREDENTIAL = { set: "set", env: "from env", missing: "missing", none: "none needed" };
  const PRESETS = ["openai", "anthropic", "azure-openai", "gemini", "bedrock", "mistral", "groq", "together", "openrouter", "deepseek", "ollama"];
  const enc = encodeURIComponent;
  // The models page's filters, kept while the console shows other pages.
  const filter = { state: "", provider: "", tag: "", text: "" };

  // A call whose refusal keeps the API's `param` and `code`, to show beside the field.
  async function call(path, method, body) {
    const r = await api(path, { method: method || "GET", body, raw: true });
    const v = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = v.error || {};
      const e = new Error(err.message || `${r.status}`);
      e.param = err.param || null;
      e.code = err.code || null;
      throw e;
    }
    return v;
  }

  const field = (label, input, cls) => el("label", { class: cls || null }, label, input);
  const say = (ctx, text, bad) => { ctx.msg.textContent = text; ctx.msg.className = bad ? "error" : "good"; };
  const list = (xs) => (xs && xs.length ? xs.join(", ") : "–");
  const shown = (v) => {
    if (v === null || v === undefined) return "–";
    const s = JSON.stringify(v);
    return s.length > 200 ? s.slice(0, 199) + "…" : s;
  };

  function clearErrors(form) {
    for (const e of form.querySelectorAll(".field-error")) e.remove();
    for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
  }

  // Shows the refusal `e` beside the input its `param` names (`inputOf` turns a param into
  // an input id), or at the foot of the form when it names none of them.
  function showError(form, e, inputOf) {
    const id = e.param ? inputOf(e.param) : null;
    const input = id ? document.getElementById(id) : null;
    if (input && form.contains(input)) {
      input.setAttribute("aria-invalid", "true");
      input.after(el("span", { class: "field-error", id: `${id}-error`, role: "alert", text: e.message }));
    } else {
      form.append(el("p", { class: "field-error", id: `${form.id}-error`, role: "alert", text: e.param ? `${e.param}: ${e.message}` : e.message }));
    }
  }

  // Does `what`, says `done`, and draws the page's table again; or says why it was refused.
  async function act(ctx, what, done) {
    try {
      await what();
      say(ctx, done);
      await ctx.load();
    } catch (e) { say(ctx, e.message, true); }
  }

  const diffRow = (d) => el("div", { class: "diff-row" },
    el("code", { text: d.path }), ": ", el("span", { class: "before", text: shown(d.before) }), " → ", el("span", { class: "after", text: shown(d.after) }));

  // The versions of one object, newest first, each with what it changed and a rollback.
  async function history(ctx, name) {
    ctx.hist.replaceChildren(el("p", { class: "muted", text: `loading the history of ${name}…` }));
    let versions;
    try {
      versions = (await call(`/admin/${ctx.kind}/${enc(name)}/versions`)).versions || [];
    } catch (e) {
      ctx.hist.replaceChildren(el("p", { class: "error", text: e.message }));
      return;
    }
    const rollback = (n) => el("button", { "data-action": "rollback", "data-needs": "operate", "data-version": String(n), text: `Rollback to v${n}`, onclick: async () => {
      await act(ctx, () => call(`/admin/${ctx.kind}/${enc(name)}/rollback`, "POST", { version: n }), `${name} rolled back to v${n}`);
      await history(ctx, name);
    } });
    ctx.hist.replaceChildren(el("div", { class: "card", "data-history": name },
      el("div", { class: "row" }, el("h2", { text: `History of ${name}` }), el("button", { text: "Close", onclick: () => ctx.hist.replaceChildren() })),
      versions.length ? null : el("p", { class: "muted", text: "No versions: it is declared in a file." }),
      versions.map((v, i) => el("div", { class: "version", "data-version": String(v.version) },
        el("div", { class: "row" },
          el("strong", { text: `v${v.version}` }),
          el("span", { class: "muted", text: `${v.actor || "–"} · ${when(v.at)}${i === 0 ? " · current" : ""}` }),
          i === 0 ? null : rollback(v.version)),
        (v.diff || []).length ? v.diff.map(diffRow) : el("div", { class: "muted", text: "no change of fields" })))));
  }

  const editButton = (ctx, x) => el("button", { "data-action": "edit", "data-needs": "operate", text: "Edit", title: "Change it (a new version)", onclick: () => window.REGISTRY_EDIT[ctx.kind](ctx, x) });
  const historyButton = (ctx, name) => el("button", { "data-action": "history", text: "History", onclick: () => history(ctx, name) });
  const adoptButton = (ctx, x) => (x.origin === "file"
    ? el("button", { "data-action": "adopt", "data-needs": "operate", text: "Adopt", title: "Move it from the file into the registry, to change it here", onclick: () => act(ctx, () => call(`/admin/${ctx.kind}/${enc(x.name)}/adopt`, "POST"), `${x.name} adopted into the registry`) })
    : null);

  // The skeleton every registry page has: a message line, an edit panel, its table, a
  // history panel.
  function skeleton(kind) {
    return { kind, msg: el("p", { id: "registry-msg", role: "status" }), edit: el("div", { id: "edit" }), list: el("div", { id: `${kind}-list` }), hist: el("div", { id: "history" }) };
  }

  // ---- models ----

  const MODEL_INPUTS = { name: "model-name", provider: "model-provider", model: "model-upstream", input_price: "model-input-price", output_price: "model-output-price", targets: "model-provider", description: "model-description", owner: "model-owner", tags: "model-tags" };
  const modelInput = (p) => MODEL_INPUTS[p.replace(/^targets\[\d+\]\./, "").replace(/\[\d+\]$/, "")];

  function matches(m) {
    const b = m.body || {};
    const ts = b.targets || [];
    if (filter.state && m.state !== filter.state) return false;
    if (filter.provider && !ts.some((t) => t.provider === filter.provider)) return false;
    const tag = filter.tag.trim().toLowerCase();
    if (tag && !(b.tags || []).some((t) => t.toLowerCase() === tag)) return false;
    const q = filter.text.trim().toLowerCase();
    return !q || [m.name, b.description, b.owner, ...(b.tags || []), ...ts.map((t) => `${t.provider}/${t.model}`)]
      .some((s) => s && String(s).toLowerCase().includes(q));
  }

  function testButton(m, out) {
    const line = (t) => `${t.label}: ${t.status} in ${num(t.latency_ms)} ms — ${t.error ? t.error.message || JSON.stringify(t.error) : t.answer}`;
    return el("button", { "data-action": "test", "data-needs": "operate", text: "Test", title: "One short request to each target (drafts too)", onclick: async () => {
      out.hidden = false;
      delete out.dataset.status;
      out.textContent = "testing…";
      try {
        const v = await call(`/admin/routes/${enc(m.name)}/test`, "POST");
        const ts = v.targets || [];
        out.textContent = `${ts.map(line).join("\n")}\n\n${JSON.stringify(v, null, 2)}`;
        out.dataset.status = ts.length && ts.every((t) => t.status < 400) ? "ok" : "failed";
      } catch (e) {
        out.textContent = e.message;
        out.dataset.status = "error";
      }
    } });
  }

  function lifecycle(ctx, m, state, label) {
    return el("button", { "data-action": label.toLowerCase(), "data-needs": "operate", text: label, disabled: m.state === state, class: state === "retired" ? "danger" : null, onclick: () => {
      if (state === "retired" && !confirm(`Retire ${m.name}? Clients asking for it will be refused.`)) return;
      return act(ctx, () => call(`/admin/models/${enc(m.name)}`, "PATCH", { state }), `${m.name} is ${state}`);
    } });
  }

  function modelActions(ctx, m) {
    const out = el("pre", { id: `test-result-${m.name}`, class: "test-result", hidden: true });
    return el("div", { class: "actions" },
      testButton(m, out), editButton(ctx, m), lifecycle(ctx, m, "active", "Activate"), lifecycle(ctx, m, "deprecated", "Deprecate"),
      lifecycle(ctx, m, "retired", "Retire"), historyButton(ctx, m.name), adoptButton(ctx, m), out);
  }

  function stateCell(m) {
    const b = m.body || {};
    const notes = [b.successor && `successor ${b.successor}`, b.redirect && "redirected", b.sunset && `sunset ${b.sunset}`, b.retire_at && `retires ${b.retire_at}`].filter(Boolean);
    return el("span", {}, el("span", { class: `badge state-${m.state}`, text: m.state }), notes.length ? el("div", { class: "muted", text: notes.join(" · ") }) : null);
  }

  function modelTable(ctx, models) {
    const first = (m) => ((m.body || {}).targets || [])[0] || {};
    return table([
      ["model", (m) => el("span", {}, el("strong", { text: m.name }), m.body && m.body.description ? el("div", { class: "muted", text: m.body.description }) : null)],
      ["state", stateCell],
      ["version", (m) => `v${m.version}`, "num"],
      ["origin", (m) => m.origin],
      ["targets", (m) => list(((m.body || {}).targets || []).map((t) => `${t.provider}/${t.model}`))],
      ["owner", (m) => (m.body || {}).owner || "–"],
      ["tags", (m) => list((m.body || {}).tags)],
      ["context", (m) => ((m.body || {}).context_window ? num(m.body.context_window) : "–"), "num"],
      ["$ / 1M in · out", (m) => `${money(first(m).input_price)} · ${money(first(m).output_price)}`, "num"],
      ["", (m) => modelActions(ctx, m)],
    ], models, (m) => ({ "data-model": m.name, "data-state": m.state }));
  }

  function modelForm(ctx, providers) {
    const input = (id, attrs) => el("input", Object.assign({ id }, attrs || {}));
    const name = input("model-name", { placeholder: "e.g. support-chat", autocomplete: "off" });
    const provider = el("select", { id: "model-provider" }, providers.length
      ? providers.map((p) => el("option", { value: p, text: p }))
      : el("option", { value: "", text: "(none yet: add one on the Providers page)" }));
    const upstream = input("model-upstream", { placeholder: "the provider's model, e.g. gpt-4o-mini" });
    const inPrice = input("model-input-price", { type: "number", step: "any", min: "0", class: "price" });
    const outPrice = input("model-output-price", { type: "number", step: "any", min: "0", class: "price" });
    const description = input("model-description", { placeholder: "what it is for" });
    const owner = input("model-owner", { placeholder: "team or person" });
    const tags = input("model-tags", { placeholder: "comma separated" });
    const form = el("form", { id: "model-form", class: "card", "data-needs": "operate", novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const target = { provider: provider.value, model: upstream.value.trim() };
      if (inPrice.value !== "") target.input_price = Number(inPrice.value);
      if (outPrice.value !== "") target.output_price = Number(outPrice.value);
      const body = { name: name.value.trim(), targets: [target] };
      if (description.value.trim()) body.description = description.value.trim();
      if (owner.value.trim()) body.owner = owner.value.trim();
      const t = tags.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (t.length) body.tags = t;
      try {
        const v = await call("/admin/models", "POST", body);
        form.reset();
        say(ctx, `${v.model.name} created as ${v.model.state}: test it, then activate it`);
        await ctx.load();
      } catch (e) { showError(form, e, modelInput); }
    } },
    el("h2", { text: "New model" }),
    el("div", { class: "row" }, field("name", name), field("provider", provider), field("upstream model", upstream),
      field("input $ / 1M tokens", inPrice), field("output $ / 1M tokens", outPrice)),
    el("div", { class: "row" }, field("description", description), field("owner", owner), field("tags", tags),
      el("button", { type: "submit", class: "primary", id: "model-create", text: "Create draft" })));
    return form;
  }

  function modelFilters(ctx, providers) {
    const redraw = (k) => (ev) => { filter[k] = ev.target.value; ctx.draw(); };
    const select = (id, k, all, values) => el("select", { id, onchange: redraw(k) },
      el("option", { value: "", text: all }), values.map((v) => el("option", { value: v, text: v, selected: filter[k] === v })));
    return el("div", { class: "row", id: "models-filters" },
      field("state", select("models-filter-state", "state", "every state", STATES)),
      field("provider", select("models-filter-provider", "provider", "every provider", providers)),
      field("tag", el("input", { id: "models-filter-tag", value: filter.tag, oninput: redraw("tag") })),
      field("search", el("input", { id: "models-filter-text", type: "search", value: filter.text, placeholder: "name, owner, target…", oninput: redraw("text") })));
  }

  async function modelsView(page) {
    const ctx = skeleton("models");
    const providers = ((await call("/admin/providers").catch(() => ({}))).providers || []).map((p) => p.name);
    let models = [];
    ctx.providers = providers;
    ctx.names = () => models.map((m) => m.name);
    ctx.draw = () => {
      const shownModels = models.filter(matches);
      ctx.list.replaceChildren(el("p", { class: "muted", text: `${shownModels.length} of ${models.length} models` }), modelTable(ctx, shownModels));
    };
    ctx.load = async () => { models = (await call("/admin/models")).models || []; ctx.draw(); };
    page.append(el("h1", { text: "Models" }), modelForm(ctx, providers), modelFilters(ctx, providers), ctx.msg, ctx.edit, ctx.list, ctx.hist);
    await ctx.load();
  }

  // ---- providers ----

  const PROVIDER_INPUTS = { name: "provider-name", preset: "provider-preset", adapter: "provider-adapter", base_url: "provider-base-url", api_key: "provider-key", verify: "provider-verify", verify_model: "provider-verify-model" };

  function verifyButton(p) {
    const out = el("span", { id: `verify-result-${p.name}`, class: "muted" });
    return [el("button", { "data-action": "verify", "data-needs": "operate", text: "Verify", title: "One real call with the stored key", onclick: async () => {
      out.className = "muted";
      out.textContent = "verifying…";
      try {
        const v = await call(`/admin/providers/${enc(p.name)}/verify`, "POST");
        out.className = v.verified ? "good" : "error";
        out.textContent = `${v.verified ? "verified" : "not verified"}${v.verification ? ": " + v.verification : ""}`;
      } catch (e) {
        out.className = "error";
        out.textContent = e.message;
      }
    } }), out];
  }

  function providerTable(ctx, providers) {
    const cred = (p) => p.credential || {};
    return table([
      ["provider", (p) => el("strong", { text: p.name })],
      ["origin", (p) => p.origin],
      ["version", (p) => (p.version ? `v${p.version}` : "–"), "num"],
      ["preset · adapter", (p) => [p.body && p.body.preset && `preset ${p.body.preset}`, p.body && p.body.adapter].filter(Boolean).join(" · ") || "–"],
      ["base URL", (p) => (p.body && p.body.base_url) || "(the preset's)"],
      ["credential", (p) => el("span", { class: `cred cred-${cred(p).status}`, "data-credential": cred(p).status || "", text: CREDENTIAL[cred(p).status] || cred(p).status || "–" })],
      ["last four", (p) => (cred(p).last4 ? `…${cred(p).last4}` : "–")],
      ["last verified", (p) => when(cred(p).verified_at)],
      ["active", (p) => (p.active ? "yes" : `no — ${p.inactive || "inactive"}`)],
      ["", (p) => el("div", { class: "actions" }, verifyButton(p), editButton(ctx, p), historyButton(ctx, p.name), adoptButton(ctx, p))],
    ], providers, (p) => ({ "data-provider": p.name, "data-credential": (p.credential || {}).status || "" }));
  }

  function providerForm(ctx) {
    const input = (id, attrs) => el("input", Object.assign({ id, autocomplete: "off" }, attrs || {}));
    const name = input("provider-name", { placeholder: "e.g. acme" });
    const preset = input("provider-preset", { list: "provider-presets", placeholder: "openai, anthropic…" });
    const presets = el("datalist", { id: "provider-presets" }, PRESETS.map((p) => el("option", { value: p })));
    const adapter = input("provider-adapter", { placeholder: "optional, e.g. builtin:openai" });
    const base = input("provider-base-url", { type: "url", placeholder: "https://… (the preset's when empty)" });
    const key = input("provider-key", { type: "password", autocomplete: "new-password" });
    const verify = input("provider-verify", { type: "checkbox", checked: true });
    const verifyModel = input("provider-verify-model", { placeholder: "optional: a one-token chat to it" });
    const answer = el("p", { id: "provider-verification", role: "status" });
    const form = el("form", { id: "provider-form", class: "card", "data-needs": "operate", novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      answer.textContent = "";
      const body = { name: name.value.trim(), verify: verify.checked };
      for (const [k, i] of [["preset", preset], ["adapter", adapter], ["base_url", base], ["verify_model", verifyModel]]) if (i.value.trim()) body[k] = i.value.trim();
      if (key.value) body.api_key = key.value;
      if (!verify.checked) delete body.verify_model;
      try {
        const v = await call("/admin/providers", "POST", body);
        form.reset();
        answer.className = v.verified ? "good" : "muted";
        answer.textContent = `${v.provider.name} added; ${v.verified ? "verified" : "not verified"}${v.verification ? ": " + v.verification : ""}`;
        await ctx.load();
      } catch (e) { showError(form, e, (p) => PROVIDER_INPUTS[p]); }
    } },
    el("h2", { text: "New provider" }),
    el("div", { class: "row" }, field("name", name), field("preset", preset), presets, field("adapter", adapter), field("base URL", base)),
    el("div", { class: "row" }, field("API key (stored, never shown again)", key), field("verify with one call", verify), field("verify model", verifyModel),
      el("button", { type: "submit", class: "primary", id: "provider-create", text: "Add provider" })),
    answer);
    return form;
  }

  async function providersView(page) {
    const ctx = skeleton("providers");
    ctx.load = async () => ctx.list.replaceChildren(providerTable(ctx, (await call("/admin/providers")).providers || []));
    page.append(el("h1", { text: "Providers" }), providerForm(ctx), ctx.msg, ctx.edit, ctx.list, ctx.hist);
    await ctx.load();
  }

  // ---- prompts ----

  const text = (content) => (typeof content === "string" ? content : (Array.isArray(content) ? content.map((p) => p.text || "").join(" ") : ""));
  function variables(messages) {
    const found = new Set();
    for (const m of messages || []) for (const x of text(m.content).matchAll(/\{\{\s*([\w.-]+)\s*\}\}/g)) found.add(x[1]);
    return [...found];
  }

  function promptTable(ctx, prompts) {
    const body = (p) => p.body || {};
    return table([
      ["prompt", (p) => el("strong", { text: p.name })],
      ["version", (p) => (p.version ? `v${p.version}` : "–"), "num"],
      ["model", (p) => body(p).model || "–"],
      ["variables", (p) => list(variables(body(p).messages))],
      ["messages", (p) => list((body(p).messages || []).map((m) => m.role))],
      ["origin", (p) => p.origin],
      ["changed", (p) => `${when(p.updated)} by ${p.actor || "–"}`],
      ["", (p) => el("div", { class: "actions" }, historyButton(ctx, p.name), adoptButton(ctx, p))],
    ], prompts, (p) => ({ "data-prompt": p.name }));
  }

  function promptForm(ctx, models) {
    const name = el("input", { id: "prompt-name", placeholder: "e.g. summarize", autocomplete: "off" });
    const model = el("input", { id: "prompt-model", list: "prompt-models", placeholder: "a model name" });
    const names = el("datalist", { id: "prompt-models" }, models.map((m) => el("option", { value: m })));
    const system = el("textarea", { id: "prompt-system", placeholder: "optional system message" });
    const template = el("textarea", { id: "prompt-template", placeholder: "The user message; {{variables}} are filled in by the caller." });
    const found = el("div", { id: "prompt-vars", class: "muted", text: "variables: –" });
    const seen = () => { found.textContent = `variables: ${list(variables([{ content: system.value }, { content: template.value }]))}`; };
    system.addEventListener("input", seen);
    template.addEventListener("input", seen);
    let hasSystem = false;
    const inputOf = (p) => {
      if (p === "name") return "prompt-name";
      if (p === "model") return "prompt-model";
      const m = p.match(/^messages(?:\[(\d+)\])?/);
      return m ? (hasSystem && m[1] === "0" ? "prompt-system" : "prompt-template") : null;
    };
    const form = el("form", { id: "prompt-form", class: "card", "data-needs": "operate", novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      hasSystem = system.value.trim() !== "";
      const messages = [...(hasSystem ? [{ role: "system", content: system.value }] : []), { role: "user", content: template.value }];
      const body = { name: name.value.trim(), messages };
      if (model.value.trim()) body.model = model.value.trim();
      try {
        const v = await call("/admin/prompts", "POST", body);
        form.reset();
        seen();
        say(ctx, `${(v.prompt && v.prompt.name) || body.name} saved`);
        await ctx.load();
      } catch (e) { showError(form, e, inputOf); }
    } },
    el("h2", { text: "New prompt" }),
    el("div", { class: "row" }, field("name", name), field("model", model), names),
    field("system message", system, "wide"), field("user message (the template)", template, "wide"), found,
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary", id: "prompt-create", text: "Save prompt" })));
    return form;
  }

  async function promptsView(page) {
    const ctx = skeleton("prompts");
    const models = ((await call("/admin/models").catch(() => ({}))).models || []).map((m) => m.name);
    ctx.load = async () => ctx.list.replaceChildren(promptTable(ctx, (await call("/admin/prompts")).prompts || []));
    page.append(el("h1", { text: "Prompts" }), promptForm(ctx, models), ctx.msg, ctx.list, ctx.hist);
    await ctx.load();
  }

  window.REGISTRY_KIT = { call, field, say, clearErrors, showError, history };
  window.REGISTRY_VIEWS = { models: modelsView, prompts: promptsView, providers: providersView };
})();
