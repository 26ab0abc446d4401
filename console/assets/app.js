// tollgate console. No framework, no build step: the server renders the
// charts as SVG and pushes them over server-sent events; this script
// fills tables and wires buttons. Text from the server is always set with
// textContent, never parsed as HTML (the SVG charts come from tollgate's
// own renderer, which escapes every text it draws).
"use strict";

const $ = (id) => document.getElementById(id);
let me = null;
let stream = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k ?? ""));
  return e;
}

async function call(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (me) opts.headers["X-CSRF-Token"] = me.csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = {};
  try { data = await r.json(); } catch (e) { /* empty body */ }
  if (r.status === 401 && path !== "/ui/login") { showLogin(); }
  if (!r.ok) { const err = new Error(data.error || r.statusText); err.status = r.status; err.field = data.field; throw err; }
  return data;
}

function fmtTime(t) {
  if (!t || t.startsWith("0001")) return "";
  return t.replace("T", " ").replace(/\.\d+/, "").replace("Z", "");
}

// ---- login -----------------------------------------------------------

function showLogin() {
  if (stream) { stream.close(); stream = null; }
  me = null;
  $("app").hidden = true;
  $("login-view").hidden = false;
  $("login-user").focus();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    me = await call("POST", "/ui/login", { user: $("login-user").value, password: $("login-password").value, code: $("login-code").value });
    $("login-password").value = "";
    $("login-code").value = "";
    start();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
});

$("logout").addEventListener("click", async () => {
  try { await call("POST", "/ui/logout"); } catch (e) { /* gone already */ }
  history.replaceState(null, "", "/ui/"); // the next user starts on Live
  showLogin();
});

// ---- tabs (WAI-ARIA tabs pattern: arrow keys move between tabs) -------

function tabs() { return [...document.querySelectorAll('[role="tab"]')].filter((t) => !t.closest("[hidden]") && t.offsetParent !== null); }

function select(name) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t.dataset.tab === name;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
  }
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.dataset.panel !== name;
  location.hash = name;
  loaders[name]?.();
}

$("tabs").addEventListener("click", (ev) => {
  const t = ev.target.closest('[role="tab"]');
  if (t) select(t.dataset.tab);
});
$("tabs").addEventListener("keydown", (ev) => {
  const list = tabs();
  const i = list.indexOf(document.activeElement);
  if (i < 0) return;
  let j = null;
  if (ev.key === "ArrowRight") j = (i + 1) % list.length;
  if (ev.key === "ArrowLeft") j = (i - 1 + list.length) % list.length;
  if (ev.key === "Home") j = 0;
  if (ev.key === "End") j = list.length - 1;
  if (j !== null) { ev.preventDefault(); list[j].focus(); select(list[j].dataset.tab); }
});

// ---- confirmation dialog ---------------------------------------------

function confirmAction(title, text, yes) {
  return new Promise((resolve) => {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-yes").textContent = yes;
    const done = (v) => { d.close(); $("confirm-yes").onclick = null; $("confirm-no").onclick = null; resolve(v); };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    d.oncancel = () => resolve(false);
    d.showModal();
    $("confirm-no").focus();
  });
}

// ---- live view -------------------------------------------------------

function riskBadge(r) {
  const cls = r >= 70 ? "risk-high" : r >= 30 ? "risk-mid" : "risk-low";
  const word = r >= 70 ? "high" : r >= 30 ? "medium" : "low";
  return el("span", { class: "risk " + cls, title: word + " risk" }, String(r), el("span", { class: "sr" }, " (" + word + ")"));
}

function alertItem(a) {
  const li = el("li", { class: a.severity, "data-alert": a.id },
    el("span", { class: "meta" }, fmtTime(a.time) + " · " + a.severity + " · " + a.status + (a.tenant ? " · " + a.tenant : "") + (a.extension ? "/" + a.extension : "")),
    el("span", { class: "text" }, el("strong", {}, a.code), " ", a.text));
  if (me && me.can_operate) {
    if (a.status === "open") li.append(el("button", { type: "button", onclick: () => setAlert(a.id, "acknowledged") }, "Acknowledge"));
    if (a.status !== "resolved") li.append(el("button", { type: "button", onclick: () => setAlert(a.id, "resolved") }, "Resolve"));
  }
  return li;
}

async function setAlert(id, status) {
  await call("POST", "/ui/api/v1/alerts/" + id, { status });
  refreshLive();
  if (!$("panel-alerts").hidden) loaders.alerts();
}

function renderLive(p) {
  const s = p.stats;
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  $("c-minute").textContent = sum(s.last_minute);
  $("c-rejected").textContent = s.total_hour[2] + s.total_hour[3];
  $("c-live").textContent = p.live_calls < 0 ? "–" : p.live_calls;
  $("c-alerts").textContent = p.open_alerts;
  $("c-blocks").textContent = p.blocks;
  $("alert-count").textContent = p.open_alerts ? p.open_alerts : "";
  $("chart").innerHTML = p.chart_svg;
  $("dest-rows").replaceChildren(...s.countries.map((r) => el("tr", {},
    el("td", {}, r.name + " (" + r.key + ")"), el("td", { class: "num" }, String(r.calls)),
    el("td", { class: "num" }, String(r.refused)), el("td", {}, riskBadge(r.max_risk)))));
  $("ext-rows").replaceChildren(...s.extensions.map((r) => el("tr", {},
    el("td", {}, el("a", { href: "#timeline", onclick: (ev) => { ev.preventDefault(); showTimeline(r.key); } }, r.key)),
    el("td", { class: "num" }, String(r.calls)), el("td", { class: "num" }, String(r.refused)), el("td", {}, riskBadge(r.max_risk)))));
  $("live-alerts").replaceChildren(...p.alerts.filter((a) => a.status === "open").map(alertItem));
  const active = p.kill_switches.filter((k) => k.active);
  $("kill-banner").hidden = active.length === 0;
  $("kill-banner").textContent = active.map((k) => "Kill switch ON for " + (k.tenant === "*" ? "every tenant" : k.tenant) + ": " + k.reason).join(" · ");
  renderKills(p.kill_switches);
}

async function refreshLive() {
  try { renderLive(await call("GET", "/ui/api/live")); } catch (e) { /* the stream will retry */ }
}

function connect() {
  if (stream) stream.close();
  stream = new EventSource("/ui/events");
  stream.addEventListener("live", (ev) => {
    $("conn").textContent = "live · updated " + new Date().toLocaleTimeString();
    renderLive(JSON.parse(ev.data));
  });
  stream.onerror = async () => {
    $("conn").textContent = "reconnecting…";
    try { await call("GET", "/ui/api/me"); } catch (e) { /* showLogin already ran on 401 */ }
  };
}

// ---- alerts, blocks, kill switch ------------------------------------

const loaders = {
  async alerts() {
    const st = $("alert-status").value;
    const d = await call("GET", "/ui/api/v1/alerts" + (st ? "?status=" + st : ""));
    $("alert-list").replaceChildren(...d.alerts.map(alertItem));
  },
  async blocks() {
    const d = await call("GET", "/ui/api/v1/blocks");
    $("block-rows").replaceChildren(...d.blocks.map((b) => {
      const tr = el("tr", {}, el("td", {}, b.kind), el("td", {}, b.value + (b.scope ? " (" + b.scope + ")" : "")), el("td", {}, b.tenant || "every tenant"),
        el("td", {}, b.reason), el("td", {}, b.created_by), el("td", {}, fmtTime(b.expires) || "never"), el("td", {}));
      if (me.can_operate && (!me.tenant || b.tenant === me.tenant)) {
        tr.lastChild.append(el("button", { type: "button", "aria-label": "Release block of " + b.value, onclick: async () => {
          await call("DELETE", "/ui/api/v1/blocks/" + b.id); loaders.blocks();
        } }, "Release"));
      }
      return tr;
    }));
  },
  async kill() { renderKills((await call("GET", "/ui/api/killswitch")).kill_switches); },
  async audit() {
    const d = await call("GET", "/ui/api/v1/audit?limit=500");
    $("audit-chain").textContent = d.chain_ok ? "Hash chain verified: no entry was changed or removed." : "HASH CHAIN BROKEN: " + d.chain_error;
    $("audit-rows").replaceChildren(...d.entries.slice().reverse().map((e) => el("tr", {}, el("td", {}, String(e.id)), el("td", {}, fmtTime(e.time)),
      el("td", {}, e.actor), el("td", {}, e.action), el("td", {}, e.object), el("td", {}, el("code", {}, JSON.stringify(e.details || {}))))));
  },
  async users() {
    const d = await call("GET", "/ui/api/users");
    $("user-rows").replaceChildren(...d.users.map((u) => el("tr", {}, el("td", {}, u.name), el("td", {}, u.role), el("td", {}, u.tenant || "every tenant"),
      el("td", {}, u.mfa ? "TOTP" : "none"), el("td", { class: "num" }, String(u.failed_logins)),
      el("td", {}, u.name === me.user ? "" : el("button", { type: "button", "aria-label": "Delete user " + u.name, onclick: async () => {
        if (await confirmAction("Delete user", "Delete " + u.name + "? Their sessions end at once.", "Delete")) { await call("DELETE", "/ui/api/users/" + encodeURIComponent(u.name)); loaders.users(); }
      } }, "Delete")))));
    const t = await call("GET", "/ui/api/v1/tokens");
    $("token-rows").replaceChildren(...t.tokens.map((k) => el("tr", {}, el("td", {}, k.name), el("td", {}, k.role), el("td", {}, k.state),
      el("td", {}, k.expires ? fmtTime(k.expires) : "never"), el("td", {}, k.last_used ? fmtTime(k.last_used) : "never"),
      el("td", {}, k.state !== "active" ? "" : el("button", { type: "button", "aria-label": "Revoke token " + k.name, onclick: async () => {
        if (await confirmAction("Revoke token", "Revoke the API token " + k.name + "? Every node refuses it at once.", "Revoke")) { await call("DELETE", "/ui/api/v1/tokens/" + encodeURIComponent(k.name)); loaders.users(); }
      } }, "Revoke")))));
  },
  account() {
    $("mfa-state").textContent = me.mfa ? "Two-factor authentication is on (TOTP)." : "Two-factor authentication is OFF for your account.";
  },
};

$("alert-status").addEventListener("change", () => loaders.alerts());

function renderKills(ks) {
  $("kill-rows").replaceChildren(...ks.map((k) => {
    const tr = el("tr", { "data-kill": k.tenant }, el("td", {}, k.tenant === "*" ? "every tenant" : k.tenant),
      el("td", {}, el("strong", { class: k.active ? "v-reject" : "v-allow" }, k.active ? "ACTIVE" : "released")),
      el("td", {}, k.reason), el("td", {}, k.by), el("td", {}, fmtTime(k.since)), el("td", {}));
    if (k.active && me && me.can_operate) {
      tr.lastChild.append(el("button", { type: "button", "aria-label": "Release kill switch of " + k.tenant, onclick: async () => {
        if (!(await confirmAction("Release the kill switch", "International calls of " + (k.tenant === "*" ? "every tenant" : k.tenant) + " will be screened normally again.", "Release"))) return;
        await call("POST", "/ui/api/v1/killswitch", { tenant: k.tenant, active: false, reason: "released from the console" });
        loaders.kill(); refreshLive();
      } }, "Release"));
    }
    return tr;
  }));
}

$("kill-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("kill-error").textContent = "";
  const tenant = $("k-tenant").value.trim() || (me.tenant || "*");
  const reason = $("k-reason").value.trim();
  if (!reason) { $("kill-error").textContent = "Give a reason: it goes into the audit log."; $("k-reason").focus(); return; }
  const who = tenant === "*" ? "EVERY tenant" : "tenant " + tenant;
  if (!(await confirmAction("Activate the kill switch", "All international calls of " + who + " will be refused until you release it.", "Activate"))) return;
  try {
    await call("POST", "/ui/api/v1/killswitch", { tenant, active: true, reason });
    loaders.kill(); refreshLive();
  } catch (e) { $("kill-error").textContent = e.message; }
});

$("block-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("block-error").textContent = "";
  const body = { kind: $("b-kind").value, value: $("b-value").value, tenant: $("b-tenant").value.trim(), scope: $("b-scope").value, reason: $("b-reason").value };
  const h = parseInt($("b-hours").value, 10);
  if (h > 0) body.expires_in = h * 3600;
  try {
    await call("POST", "/ui/api/v1/blocks", body);
    $("b-value").value = ""; $("b-reason").value = "";
    loaders.blocks();
  } catch (e) { $("block-error").textContent = e.message + (e.field ? " (" + e.field + ")" : ""); }
});

// ---- timeline and search --------------------------------------------

function showTimeline(key) {
  const i = key.indexOf("/");
  $("tl-tenant").value = key.slice(0, i);
  $("tl-ext").value = key.slice(i + 1);
  select("timeline");
  $("tl-form").requestSubmit();
}

$("tl-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams({ tenant: $("tl-tenant").value, extension: $("tl-ext").value, hours: $("tl-hours").value });
  const d = await call("GET", "/ui/api/timeline?" + q);
  $("tl-svg").innerHTML = d.svg;
  $("tl-list").replaceChildren(...d.items.slice().reverse().map((it) => el("li", {}, fmtTime(it.time) + " · " + it.kind + " · ",
    el("span", { class: "v-" + it.action }, it.action || ""), " " + it.text)));
});

function localToRFC3339(v) { return v ? new Date(v).toISOString() : ""; }

$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("search-error").textContent = "";
  const q = new URLSearchParams();
  const add = (k, v) => { if (v) q.set(k, v); };
  add("call_id", $("s-call").value.trim()); add("number", $("s-number").value.trim()); add("extension", $("s-ext").value.trim());
  add("tenant", $("s-tenant").value.trim()); add("from", localToRFC3339($("s-from").value)); add("to", localToRFC3339($("s-to").value));
  add("action", $("s-action").value); q.set("limit", "200");
  try {
    const d = await call("GET", "/ui/api/v1/decisions?" + q);
    $("search-rows").replaceChildren(...d.decisions.map((x) => el("tr", {}, el("td", {}, fmtTime(x.time)), el("td", {}, x.call_id),
      el("td", {}, x.tenant + "/" + x.extension), el("td", {}, x.e164 || x.callee), el("td", {}, x.country),
      el("td", {}, el("span", { class: "v-" + x.action }, x.action)), el("td", { class: "num" }, String(x.risk)),
      el("td", {}, (x.reasons && x.reasons[0] && x.reasons[0].text) || ""))));
    if (!d.decisions.length) $("search-error").textContent = "No decisions match.";
  } catch (e) { $("search-error").textContent = e.message; }
});

// ---- users and MFA ---------------------------------------------------

$("user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("user-error").textContent = "";
  try {
    const d = await call("POST", "/ui/api/users", { name: $("u-name").value, role: $("u-role").value, tenant: $("u-tenant").value.trim(), password: $("u-password").value });
    $("u-password").value = "";
    const box = $("user-qr");
    box.hidden = false;
    box.replaceChildren(el("p", {}, "Hand this to " + d.name + " (shown once): scan it with an authenticator app. Key: ", el("code", {}, d.secret)));
    box.insertAdjacentHTML("beforeend", d.qr_svg);
    loaders.users();
  } catch (e) { $("user-error").textContent = e.message; }
});

let pendingSecret = "";
$("mfa-start").addEventListener("click", async () => {
  const d = await call("GET", "/ui/api/mfa/new");
  pendingSecret = d.secret;
  $("mfa-qr").innerHTML = d.qr_svg;
  $("mfa-secret").textContent = d.secret;
  $("mfa-box").hidden = false;
  $("mfa-current-box").hidden = !me.mfa;
  $("mfa-current").required = !!me.mfa;
  $("mfa-code").focus();
});
$("mfa-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("mfa-error").textContent = "";
  try {
    await call("POST", "/ui/api/mfa", { secret: pendingSecret, code: $("mfa-code").value,
      password: $("mfa-password").value, current_code: $("mfa-current").value });
    $("mfa-password").value = ""; $("mfa-current").value = "";
    me.mfa = true; $("mfa-box").hidden = true; loaders.account();
  } catch (e) { $("mfa-error").textContent = e.message; }
});

// ---- start -----------------------------------------------------------

function start() {
  $("login-view").hidden = true;
  $("app").hidden = false;
  $("who-user").textContent = me.user;
  $("who-role").textContent = me.role;
  $("who-tenant").textContent = me.tenant ? "· tenant " + me.tenant : "· every tenant";
  document.body.classList.toggle("can-operate", me.can_operate);
  for (const e of document.querySelectorAll(".operate-only")) e.hidden = !me.can_operate;
  for (const e of document.querySelectorAll(".admin-only")) e.hidden = !me.can_admin;
  const want = location.hash.slice(1);
  select(loaders[want] || want === "live" ? want : "live");
  refreshLive();
  connect();
}

(async () => {
  try { me = await call("GET", "/ui/api/me"); start(); } catch (e) { showLogin(); }
})();
