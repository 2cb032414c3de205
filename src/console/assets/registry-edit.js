// The registry's edit forms, opened by a row's Edit button on the Models and Providers
// pages (registry.js). Each is prefilled from the row, sends a JSON merge patch of only
// what changed (`null` removes a field), and shows a refusal beside the field its `param`
// names, as the create forms do. A provider's key is never prefilled nor shown: the input
// is emptied after every answer. Loaded after registry.js, whose helpers it uses
// (`window.REGISTRY_KIT`); handed back as `window.REGISTRY_EDIT`. Everything is set as text.
"use strict";

(() => {
  const { call, field, say, clearErrors, showError, history } = window.REGISTRY_KIT;
  const enc = encodeURIComponent;
  const ROW = { models: "model", providers: "provider", prompts: "prompt" };
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const text = (v) => (v === null || v === undefined ? "" : String(v));
  const words = (s) => s.split(",").map((w) => w.trim()).filter(Boolean);
  const input = (id, attrs) => el("input", Object.assign({ id, autocomplete: "off" }, attrs || {}));
  // A number input's value: undefined when empty, NaN when it is not a number.
  const number = (i) => (i.validity && i.validity.badInput ? NaN : (i.value.trim() === "" ? undefined : Number(i.value)));

  function open(ctx, form) {
    ctx.edit.replaceChildren(form);
    form.scrollIntoView({ block: "nearest" });
    const first = form.querySelector("input, select");
    if (first) first.focus();
  }

  const cancel = (ctx, id) => el("button", { type: "button", id, text: "Cancel", onclick: () => ctx.edit.replaceChildren() });

  // The history panel, drawn again when it shows the object just changed.
  async function rehistory(ctx, name) {
    const shown = ctx.hist.querySelector("[data-history]");
    if (shown && shown.dataset.history === name) await history(ctx, name);
  }

  // The row of `name` on this page (its buttons), if it is drawn.
  const rowOf = (ctx, name) => ctx.list.querySelector(`tr[data-${ROW[ctx.kind]}="${CSS.escape(name)}"]`);

  // A file-declared object cannot be changed here: say so, and point at its Adopt button.
  function fileRefusal(ctx, form, e, name) {
    showError(form, { message: e.message, param: null }, () => null);
    const row = rowOf(ctx, name);
    const adopt = row && row.querySelector('button[data-action="adopt"]');
    form.append(el("p", { class: "muted", id: `${form.id}-adopt`, text: adopt
      ? `${name} is declared in the config file: press Adopt on its row (marked) to move it into the registry, then edit it here.`
      : `${name} is declared in the config file: adopt it into the registry first.` }));
    if (adopt) {
      adopt.classList.add("pointed");
      adopt.scrollIntoView({ block: "center" });
      adopt.focus();
    }
  }

  const fileNote = (x) => (x.origin === "file"
    ? el("p", { class: "muted", text: "Declared in the config file: saving is refused until it is adopted (Adopt on its row)." })
    : null);

  // ---- models ----

  const MODEL_TARGET = { provider: "model-edit-provider", model: "model-edit-upstream", input_price: "model-edit-input-price", output_price: "model-edit-output-price" };
  const MODEL_FIELDS = { description: "model-edit-description", owner: "model-edit-owner", tags: "model-edit-tags", context_window: "model-edit-context-window", successor: "model-edit-successor", sunset: "model-edit-sunset" };
  // `targets[0].provider` → the provider input; another target's fields have no input here.
  function modelInput(param) {
    const t = param.match(/^targets(?:\[(\d+)\])?(?:\.(\w+))?/);
    if (t) return t[1] === undefined || t[1] === "0" ? MODEL_TARGET[t[2] || "provider"] || null : null;
    return MODEL_FIELDS[param.replace(/\[\d+\]$/, "")] || null;
  }

  function editModel(ctx, m) {
    const b = m.body || {};
    const targets = b.targets || [];
    const t0 = targets[0] || {};
    const providers = [...new Set([...(ctx.providers || []), t0.provider].filter(Boolean))];
    const provider = el("select", { id: "model-edit-provider" }, providers.map((p) => el("option", { value: p, text: p, selected: p === t0.provider })));
    const upstream = input("model-edit-upstream", { value: text(t0.model), placeholder: "the provider's model" });
    const price = (id, v) => input(id, { type: "number", step: "any", min: "0", class: "price", value: text(v) });
    const inPrice = price("model-edit-input-price", t0.input_price);
    const outPrice = price("model-edit-output-price", t0.output_price);
    const description = input("model-edit-description", { value: text(b.description), placeholder: "what it is for" });
    const owner = input("model-edit-owner", { value: text(b.owner), placeholder: "team or person" });
    const tags = input("model-edit-tags", { value: (b.tags || []).join(", "), placeholder: "comma separated" });
    const context = input("model-edit-context-window", { type: "number", step: "1", min: "1", class: "price", value: text(b.context_window), placeholder: "tokens" });
    const successor = input("model-edit-successor", { list: "model-edit-successors", value: text(b.successor), placeholder: "the model to move to" });
    const successors = el("datalist", { id: "model-edit-successors" }, (ctx.names ? ctx.names() : []).filter((n) => n !== m.name).map((n) => el("option", { value: n })));
    const sunset = input("model-edit-sunset", { value: text(b.sunset), placeholder: "2027-01-31" });
    const note = el("p", { id: "model-edit-note", class: "muted", role: "status" });
    const save = el("button", { type: "submit", class: "primary", id: "model-edit-save", text: "Save changes" });

    // What the form says that the API would refuse anyway, said before asking it.
    function problems() {
      const bad = [];
      if (!upstream.value.trim()) bad.push({ param: "targets[0].model", message: "the provider's model is required" });
      for (const [k, i] of [["input_price", inPrice], ["output_price", outPrice]]) {
        const v = number(i);
        if (Number.isNaN(v) || v < 0) bad.push({ param: `targets[0].${k}`, message: "a price is a number, 0 or more ($ per 1M tokens)" });
      }
      const c = number(context);
      if (c !== undefined && !(Number.isInteger(c) && c >= 1)) bad.push({ param: "context_window", message: "a whole number of tokens, 1 or more" });
      return bad;
    }

    // The merge patch: only the fields that changed; an emptied field removed (`null`).
    function patch() {
      const out = {};
      for (const [k, i] of [["description", description], ["owner", owner], ["successor", successor], ["sunset", sunset]]) {
        const v = i.value.trim();
        if (v !== text(b[k])) out[k] = v === "" ? null : v;
      }
      const t = words(tags.value);
      if (!same(t, b.tags || [])) out.tags = t.length ? t : null;
      const c = number(context);
      if ((c === undefined ? null : c) !== (b.context_window === undefined ? null : b.context_window)) out.context_window = c === undefined ? null : c;
      // An array is replaced whole: the first target changed, the others as they are.
      const first = Object.assign({}, t0, { provider: provider.value, model: upstream.value.trim() });
      for (const [k, i] of [["input_price", inPrice], ["output_price", outPrice]]) {
        const v = number(i);
        if (v === undefined) delete first[k];
        else first[k] = v;
      }
      if (!same(first, t0)) out.targets = [first, ...targets.slice(1)];
      return out;
    }

    const form = el("form", { id: "model-edit-form", class: "card edit", "data-model": m.name, novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      note.textContent = "";
      const bad = problems();
      if (bad.length) {
        for (const e of bad) showError(form, e, modelInput);
        return;
      }
      const body = patch();
      const changed = Object.keys(body);
      if (!changed.length) {
        note.textContent = "Nothing changed.";
        return;
      }
      save.disabled = true;
      let v;
      try {
        v = await call(`/admin/models/${enc(m.name)}`, "PATCH", body);
      } catch (e) {
        if (e.code === "declared_in_file") fileRefusal(ctx, form, e, m.name);
        else showError(form, e, modelInput);
        return;
      } finally { save.disabled = false; }
      ctx.edit.replaceChildren();
      say(ctx, `${m.name} saved as v${(v.model || {}).version}: ${changed.join(", ")} changed`);
      try {
        await ctx.load();
        await rehistory(ctx, m.name);
      } catch (e) { say(ctx, e.message, true); }
    } },
    el("div", { class: "row" }, el("h2", { text: `Edit ${m.name}` }), el("span", { class: "muted", text: `v${m.version} · ${m.state}` })),
    fileNote(m),
    el("div", { class: "row" }, field("provider", provider), field("upstream model", upstream),
      field("input $ / 1M tokens", inPrice), field("output $ / 1M tokens", outPrice),
      targets.length > 1 ? el("span", { class: "muted", text: `the first of ${targets.length} targets; the others stay as they are` }) : null),
    el("div", { class: "row" }, field("description", description), field("owner", owner), field("tags", tags), field("context window", context)),
    el("div", { class: "row" }, field("successor", successor), successors, field("sunset", sunset), save, cancel(ctx, "model-edit-cancel")),
    note);
    open(ctx, form);
  }

  // ---- providers ----

  const PROVIDER_FIELDS = { base_url: "provider-edit-base-url", api_key: "provider-edit-key", verify: "provider-edit-verify", verify_model: "provider-edit-verify-model" };

  function editProvider(ctx, p) {
    let was = text((p.body || {}).base_url);
    const cred = p.credential || {};
    const base = input("provider-edit-base-url", { type: "url", class: "url", value: was, placeholder: "https://… (the preset's when empty)" });
    // Never prefilled, emptied after every answer; empty keeps the key in force.
    const key = input("provider-edit-key", { type: "password", autocomplete: "new-password", placeholder: "empty: the key stays" });
    const verify = input("provider-edit-verify", { type: "checkbox", checked: true });
    const verifyModel = input("provider-edit-verify-model", { placeholder: "optional: a one-token chat to it" });
    verify.addEventListener("change", () => { verifyModel.disabled = !verify.checked; });
    const result = el("p", { id: "provider-edit-result", role: "status" });
    const save = el("button", { type: "submit", class: "primary", id: "provider-edit-save", text: "Save changes" });
    const tell = (cls, s) => { result.className = cls; result.textContent = s; };

    const form = el("form", { id: "provider-edit-form", class: "card edit", "data-provider": p.name, novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      tell("", "");
      const body = {};
      const url = base.value.trim();
      if (url !== was) body.base_url = url === "" ? null : url;
      if (key.value) body.api_key = key.value;
      if (!Object.keys(body).length) {
        tell("muted", "Nothing changed: give a new key or another base URL (Verify on the row checks the key in force).");
        return;
      }
      body.verify = verify.checked;
      if (verify.checked && verifyModel.value.trim()) body.verify_model = verifyModel.value.trim();
      save.disabled = true;
      tell("muted", body.verify ? "saving: one call with the key first…" : "saving…");
      let v;
      try {
        v = await call(`/admin/providers/${enc(p.name)}`, "PATCH", body);
      } catch (e) {
        if (e.code === "declared_in_file") fileRefusal(ctx, form, e, p.name);
        else showError(form, e, (x) => PROVIDER_FIELDS[x] || null);
        tell("error", `not saved: ${p.name} keeps the key and base URL it had`);
        return;
      } finally {
        key.value = "";
        save.disabled = false;
      }
      const now = v.provider || {};
      was = text((now.body || {}).base_url);
      base.value = was;
      const checked = !v.verification ? "no call was made with the key"
        : (v.verified ? `verified: ${v.verification}` : v.verification);
      tell(v.verified ? "good" : "muted", `${p.name} saved as v${now.version}; ${checked}`);
      try {
        await ctx.load();
        await rehistory(ctx, p.name);
      } catch (e) { say(ctx, e.message, true); }
    } },
    el("div", { class: "row" }, el("h2", { text: `Edit ${p.name}` }),
      el("span", { class: "muted", text: `key: ${cred.status || "–"}${cred.last4 ? ` …${cred.last4}` : ""}` })),
    fileNote(p),
    el("div", { class: "row" }, field("base URL", base), field("new API key (stored, never shown)", key),
      field("verify with one call", verify), field("verify model", verifyModel), save, cancel(ctx, "provider-edit-cancel")),
    result);
    open(ctx, form);
  }

  window.REGISTRY_EDIT = { models: editModel, providers: editProvider };
})();
