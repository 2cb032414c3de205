// People and one's own account. The People page (admins only): every account with its
// role, origin and state, a form to add a local account, and per person a role change,
// a new password (local accounts) and Disable/Enable (disabling ends their sessions and
// tokens at once). My account (anyone signed in): who one is, one's console sessions and
// personal API tokens (an admin's: everyone's), each ended with a button, and a form
// making a token with a role no higher than one's own, its secret shown this once.
// Drawn with console.js's helpers (`el`, `api`, `table`, `when`, `SESSION`, `gate`);
// everything shown is set as text. Handed to console.js's `show()` as
// `window.PEOPLE_VIEWS`.
"use strict";

(() => {
  const enc = encodeURIComponent;
  const now = () => Math.floor(Date.now() / 1000);
  const me = () => SESSION || {};
  const field = (label, input) => el("label", {}, label, input);
  const badge = (state) => el("span", { class: `badge state-${state}`, text: state });
  const TEAM_ROLE = /^team-(admin|member):(.+)$/;
  // Longest a personal token lives (the API's limit: 366 days).
  const MAX_DAYS = 366;

  // The roles `role` covers (what a token it makes may have), for a datalist.
  function covered(role, teams) {
    const t = (role || "").match(TEAM_ROLE);
    if (role === "admin") return ["admin", "operator", "viewer", ...teams.flatMap((x) => [`team-admin:${x}`, `team-member:${x}`])];
    if (role === "operator") return ["operator", "viewer", ...teams.flatMap((x) => [`team-admin:${x}`, `team-member:${x}`])];
    if (t && t[1] === "admin") return [role, `team-member:${t[2]}`];
    return role ? [role] : [];
  }

  // A message line: what was done, or why it was refused.
  function status(id) {
    const msg = el("p", { id, role: "status" });
    return { msg, say: (text, bad) => { msg.textContent = text; msg.className = bad ? "error" : "good"; } };
  }

  // ---- people ----

  function personState(p) {
    if (p.disabled_at) return "disabled";
    if (p.locked_until && p.locked_until > now()) return "locked";
    return "active";
  }

  function personActions(p, act) {
    const you = p.name === me().name;
    const role = el("input", { class: "role", list: "person-roles", value: p.role, "aria-label": `role of ${p.name}` });
    const password = el("input", { type: "password", class: "role", autocomplete: "new-password", placeholder: "new password (12+)", "aria-label": `new password of ${p.name}` });
    const path = `/admin/people/${enc(p.name)}`;
    return el("div", { class: "actions", "data-needs": "admin" },
      role,
      el("button", { "data-action": "role", text: "Change role", onclick: () => {
        const r = role.value.trim();
        if (r === p.role) return act(async () => {}, `${p.name} is already ${r}`);
        return act(() => api(path, { method: "PATCH", body: { role: r } }), `${p.name} is now ${r}`);
      } }),
      p.origin === "local" ? [" ", password,
        el("button", { "data-action": "password", text: "Set password", onclick: () => {
          if (password.value.length < 12) return act(() => Promise.reject(new Error("a password has 12 characters or more")), "");
          return act(() => api(path, { method: "PATCH", body: { password: password.value } }), `${p.name}'s password changed`);
        } })] : null,
      " ",
      you ? null : (p.disabled_at
        ? el("button", { "data-action": "enable", text: "Enable", onclick: () => act(() => api(path, { method: "PATCH", body: { disabled: false } }), `${p.name} enabled`) })
        : el("button", { "data-action": "disable", class: "danger", text: "Disable", title: "Ends their sessions and tokens at once",
          onclick: () => act(() => api(path, { method: "PATCH", body: { disabled: true } }), `${p.name} disabled: their sessions and tokens ended`) })));
  }

  function peopleTable(people, act) {
    return table([
      ["name", (p) => el("span", {}, el("strong", { text: p.name }), p.name === me().name ? el("span", { class: "muted", text: " (you)" }) : null)],
      ["role", (p) => p.role],
      ["origin", (p) => (p.origin === "sso" ? "single sign-on" : "local")],
      ["state", (p) => {
        const s = personState(p);
        return el("span", {}, badge(s), s === "locked" ? el("div", { class: "muted", text: `until ${when(p.locked_until)}` }) : null);
      }],
      ["added", (p) => when(p.created_at)],
      ["sessions", (p) => String(p.sessions || 0), "num"],
      ["tokens", (p) => String(p.tokens || 0), "num"],
      ["", (p) => personActions(p, act)],
    ], people, (p) => ({ "data-person": p.name, "data-state": personState(p), "data-role": p.role }));
  }

  function personForm(say, load) {
    const name = el("input", { id: "person-name", autocomplete: "off", placeholder: "alice or alice@example.com" });
    const role = el("input", { id: "person-role", class: "role", list: "person-roles", value: "viewer", placeholder: "viewer, operator, admin, team-admin:TEAM…" });
    const password = el("input", { id: "person-password", type: "password", autocomplete: "new-password", minlength: "12", placeholder: "12 characters or more" });
    const form = el("form", { id: "person-form", class: "card", "data-needs": "admin", novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { name: name.value.trim(), role: role.value.trim(), password: password.value };
      if (!body.name || !body.role) { say("a name and a role are needed", true); return; }
      if (body.password.length < 12) { say("a password has 12 characters or more", true); return; }
      try {
        await api("/admin/people", { method: "POST", body });
        form.reset();
        role.value = "viewer";
        say(`${body.name} added as ${body.role}: they sign in with that name and password`);
        await load();
      } catch (e) { say(e.message, true); }
    } },
    el("h2", { text: "Add a person (a local account)" }),
    el("div", { class: "row" }, field("name", name), field("role", role), field("password", password),
      el("button", { type: "submit", class: "primary", id: "person-add", text: "Add" })),
    el("p", { class: "muted", text: "Roles: admin (everything), operator (everything but people), viewer (reads, changes nothing), team-admin:TEAM (the team's keys and usage), team-member:TEAM (their own keys in the team). People who sign in with single sign-on are added when they first do." }));
    return form;
  }

  async function peopleView(page) {
    const { msg, say } = status("people-msg");
    const list = el("div", { id: "people-list" });
    const teams = ((await api("/admin/config").catch(() => ({}))).teams || []).map((t) => t.name);
    const roles = el("datalist", { id: "person-roles" }, covered("admin", teams).map((r) => el("option", { value: r })),
      teams.length ? null : [el("option", { value: "team-admin:" }), el("option", { value: "team-member:" })]);
    const load = async () => {
      const people = (await api("/admin/people")).people || [];
      list.replaceChildren(el("p", { class: "muted", text: `${people.length} ${people.length === 1 ? "person" : "people"}` }), peopleTable(people, act));
      gate(list);
    };
    async function act(what, done) {
      try {
        await what();
        if (done) say(done);
        await load();
      } catch (e) { say(e.message, true); }
    }
    page.append(el("h1", { text: "People" }), roles, personForm(say, load), msg, list);
    await load();
  }

  // ---- my account ----

  function grantState(g) {
    if (g.revoked_at) return "revoked";
    if (g.expires_at && g.expires_at <= now()) return "expired";
    return "live";
  }

  // The grants of one kind ("sessions" or "tokens"): the live ones, or every one.
  function grantTable(kind, grants, end, everyone) {
    const one = kind === "sessions" ? "session" : "token";
    return table([
      everyone ? ["person", (g) => g.person || "admin-token"] : null,
      ["id", (g) => g.id],
      kind === "tokens" ? ["label", (g) => g.label || "–"] : null,
      ["role", (g) => g.role],
      ["signed in with", (g) => g.origin],
      ["made", (g) => when(g.created_at)],
      ["expires", (g) => when(g.expires_at)],
      ["state", (g) => badge(grantState(g))],
      ["", (g) => (grantState(g) === "live"
        ? el("button", { class: "danger", "data-action": `revoke-${one}`, [`data-${one}`]: g.id, text: kind === "sessions" ? "End" : "Revoke", onclick: () => end(g) })
        : "")],
    ].filter(Boolean), grants, (g) => ({ "data-grant": g.id, "data-state": grantState(g), "data-label": g.label || null }));
  }

  function tokenForm(say, load) {
    const s = me();
    const label = el("input", { id: "token-label", autocomplete: "off", placeholder: "e.g. ci-deploy" });
    const role = el("input", { id: "token-role", class: "role", list: "token-roles", value: s.role || "" });
    const days = el("input", { id: "token-days", type: "number", min: "1", max: String(MAX_DAYS), step: "1", value: "30", class: "price" });
    const out = el("div", { id: "token-out" });
    const form = el("form", { id: "new-token-form", class: "card", novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      out.replaceChildren();
      const body = {};
      if (label.value.trim()) body.label = label.value.trim();
      if (role.value.trim()) body.role = role.value.trim();
      const d = Number(days.value);
      if (days.value.trim() !== "") {
        if (!(d > 0 && d <= MAX_DAYS)) { out.append(el("p", { class: "error", text: `days: from 1 to ${MAX_DAYS}` })); return; }
        body.expires_in = Math.max(60, Math.round(d * 86400));
      }
      try {
        const v = await api("/admin/tokens", { method: "POST", body });
        out.replaceChildren(
          el("p", { text: `Token ${v.token.id}${v.token.label ? ` (${v.token.label})` : ""}, ${v.token.role}, until ${when(v.token.expires_at)}. Its secret, shown this once — copy it now:` }),
          el("div", { class: "secret", id: "token-secret", "data-token-id": v.token.id, text: v.secret }),
          el("p", { class: "muted", text: "Use it as a bearer token: Authorization: Bearer <secret>." }));
        label.value = "";
        say("");
        await load();
      } catch (e) { out.replaceChildren(el("p", { class: "error", text: e.message })); }
    } },
    el("h2", { text: "New personal API token" }),
    el("div", { class: "row" }, field("label", label), field("role (no higher than yours)", role), field("expires in days", days),
      el("button", { type: "submit", class: "primary", id: "token-create", text: "Create token" })),
    out);
    return form;
  }

  async function accountView(page) {
    const s = me();
    const admin = s.role === "admin";
    const tokenless = !s.name || s.name === "admin-token";
    const { msg, say } = status("account-msg");
    const sessions = el("div", { id: "sessions-list" });
    const tokens = el("div", { id: "tokens-list" });
    const ended = el("input", { type: "checkbox", id: "show-ended" });
    const teams = admin || s.role === "operator" ? ((await api("/admin/config").catch(() => ({}))).teams || []).map((t) => t.name) : [];
    // A session ended here may be this one: then the page is the sign-in page.
    const stillIn = async () => {
      const r = await fetch("/admin/session", { credentials: "same-origin" });
      if (r.status === 401) location.assign("/");
    };
    const end = (kind) => async (g) => {
      try {
        await api(`/admin/${kind}/${enc(g.id)}`, { method: "DELETE" });
        say(`${kind === "sessions" ? "session" : "token"} ${g.id} ended`);
        if (kind === "sessions") await stillIn();
        await load();
      } catch (e) { say(e.message, true); }
    };
    const draw = (box, kind, grants) => {
      const shown = ended.checked ? grants : grants.filter((g) => grantState(g) === "live");
      const hidden = grants.length - shown.length;
      box.replaceChildren(...[
        shown.length ? grantTable(kind, shown, end(kind), admin) : el("p", { class: "muted", text: `No live ${kind}.` }),
        hidden ? el("p", { class: "muted", text: `${hidden} ended (revoked or expired) not shown.` }) : null].filter(Boolean));
    };
    async function load() {
      const [a, b] = await Promise.all([api("/admin/sessions"), api("/admin/tokens")]);
      draw(sessions, "sessions", a.sessions || []);
      draw(tokens, "tokens", b.tokens || []);
    }
    ended.addEventListener("change", () => load().catch((e) => say(e.message, true)));
    page.append(el("h1", { text: "My account" }),
      el("div", { class: "card", id: "account-who" },
        el("div", { class: "row" }, el("strong", { id: "account-name", text: s.name || "–" }), badge(s.role || "–"),
          el("span", { class: "muted", text: s.via === "session" ? "signed in to the console" : `signed in with ${s.via || "–"}` })),
        el("p", { class: "muted", text: s.team ? `In team ${s.team}: the Keys and Usage pages show its keys and usage.` : "" })),
      msg,
      el("div", { class: "row" }, el("label", { class: "inline" }, ended, "show ended ones too")),
      el("h2", { text: admin ? "Console sessions (everyone's: you are an admin)" : "My console sessions" }), sessions,
      el("h2", { text: admin ? "Personal API tokens (everyone's)" : "My personal API tokens" }),
      tokenless
        ? el("p", { class: "muted", text: "Signed in with the admin token, which is no person's: sign in as a person to make personal tokens." })
        : el("div", {}, el("datalist", { id: "token-roles" }, covered(s.role, teams).map((r) => el("option", { value: r }))), tokenForm(say, load)),
      tokens);
    await load();
  }

  window.PEOPLE_VIEWS = { people: peopleView, account: accountView };
})();
