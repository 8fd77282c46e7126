import Foundation

/// The on-call page (`GET /`): one HTML document, its stylesheet and its script, compiled into
/// the binary (no CDN, no build step: it works on an air-gapped host). The script polls the
/// JSON API every second and builds the page with `textContent` only, so nothing that came from
/// the stream is ever parsed as HTML. Every asset is served with a Content-Security-Policy that
/// allows scripts and styles from vigil itself and nothing inline, and mutations send the
/// bearer token the user typed (kept in the tab's session storage) in a header, never a cookie.
enum Page {
    /// The headers every page asset carries.
    static let headers = [
        "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    ]

    /// The asset at `path`, if it is one.
    static func asset(_ path: String) -> HTTPResponse? {
        let (type, text): (String, String)
        switch path {
        case "/", "/index.html": (type, text) = ("text/html; charset=utf-8", html)
        case "/ui/app.js": (type, text) = ("text/javascript; charset=utf-8", script)
        case "/ui/app.css": (type, text) = ("text/css; charset=utf-8", style)
        case "/ui/icon.svg", "/favicon.ico": (type, text) = ("image/svg+xml", icon)
        default: return nil
        }
        return HTTPResponse(status: 200, contentType: type, body: Data(text.utf8), headers: headers)
    }

    static let html = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>vigil</title>
    <link rel="stylesheet" href="/ui/app.css">
    <link rel="icon" href="/ui/icon.svg" type="image/svg+xml">
    <script src="/ui/app.js" defer></script>
    </head>
    <body>
    <header>
      <h1>vigil</h1>
      <span id="stream" class="pill">…</span>
      <span id="updated" class="muted"></span>
      <button id="token-button" type="button">Token</button>
    </header>
    <div id="token-box" hidden>
      <label>Bearer token for actions (kept in this tab only) <input id="token" type="password" autocomplete="off"></label>
      <button id="token-save" type="button">Save</button>
    </div>
    <div id="error" class="banner" hidden></div>
    <nav>
      <label>Filter <input id="filter" placeholder='venue="kalshi", alertname=~"feed.*"' spellcheck="false"></label>
      <label>Group by <input id="group" placeholder="label" spellcheck="false"></label>
    </nav>
    <main>
      <section><h2>Alerts <span id="alert-count" class="muted"></span></h2><div id="alerts"></div></section>
      <section><h2>Silences</h2><div id="silences"></div></section>
      <section><h2>Rules</h2><div id="rules"></div></section>
      <section><h2>Delivery</h2><div id="delivery"></div><h3>Last 100 notifications</h3><div id="recent"></div></section>
      <section><h2>Surroundings</h2><div id="surroundings"></div></section>
    </main>
    <dialog id="ack-dialog">
      <form id="ack-form" method="dialog">
        <h3>Acknowledge <span id="ack-name"></span></h3>
        <label>Comment <input id="ack-comment" required></label>
        <label>For (optional, like 30m) <input id="ack-for"></label>
        <menu><button value="cancel" formnovalidate>Cancel</button><button id="ack-submit" value="ok">Acknowledge</button></menu>
      </form>
    </dialog>
    <dialog id="silence-dialog">
      <form id="silence-form" method="dialog">
        <h3>Silence</h3>
        <label>Matchers <input id="silence-matchers" required spellcheck="false"></label>
        <label>For <input id="silence-for" value="2h" required></label>
        <label>Comment <input id="silence-comment" required></label>
        <menu><button value="cancel" formnovalidate>Cancel</button><button id="silence-submit" value="ok">Silence</button></menu>
      </form>
    </dialog>
    </body>
    </html>

    """

    static let icon = """
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1d1d1f"/><circle cx="8" cy="8" r="3" fill="#b3261e"/></svg>

    """

    static let style = """
    :root { --crit: #b3261e; --warn: #a15c00; --info: #2f5f9e; --ok: #1e7a3c; --bg: #fafafa; --card: #fff; --line: #ddd; --muted: #666; }
    * { box-sizing: border-box; }
    [hidden] { display: none !important; }
    body { margin: 0; font: 15px/1.4 system-ui, sans-serif; background: var(--bg); color: #111; }
    header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; background: #1d1d1f; color: #fff; }
    header h1 { font-size: 1.1rem; margin: 0; }
    header button { margin-left: auto; }
    nav, #token-box { display: flex; flex-wrap: wrap; gap: .5rem 1rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
    nav label, #token-box label { display: flex; flex-direction: column; font-size: .85rem; flex: 1 1 14rem; }
    input { font: inherit; padding: .35rem .5rem; border: 1px solid #aaa; border-radius: 4px; }
    button { font: inherit; padding: .35rem .8rem; border-radius: 4px; border: 1px solid #888; background: #f2f2f2; cursor: pointer; }
    main { padding: 0 1rem 2rem; max-width: 90rem; margin: 0 auto; }
    h2 { font-size: 1rem; margin: 1.2rem 0 .5rem; }
    .muted { color: var(--muted); font-size: .85rem; }
    header .muted { color: #bbb; }
    .pill { padding: .1rem .5rem; border-radius: 1rem; font-size: .85rem; background: var(--ok); color: #fff; }
    .pill.bad { background: var(--crit); }
    .banner { margin: .6rem 1rem; padding: .5rem .8rem; border-radius: 4px; background: #fde7e7; color: var(--crit); }
    .card { background: var(--card); border: 1px solid var(--line); border-left: 6px solid var(--info); border-radius: 4px; padding: .6rem .8rem; margin: .5rem 0; }
    .card.critical { border-left-color: var(--crit); }
    .card.warning { border-left-color: var(--warn); }
    .card.target { outline: 3px solid #5b8def; }
    .card .top { display: flex; flex-wrap: wrap; gap: .3rem .6rem; align-items: baseline; }
    .card .name { font-weight: 600; overflow-wrap: anywhere; }
    .sev { font-size: .75rem; font-weight: 700; text-transform: uppercase; padding: 0 .4rem; border-radius: 3px; color: #fff; background: var(--info); }
    .sev.critical { background: var(--crit); }
    .sev.warning { background: var(--warn); }
    .state { font-size: .8rem; text-transform: uppercase; }
    .labels { display: flex; flex-wrap: wrap; gap: .25rem; margin: .35rem 0; }
    .label { font: .8rem ui-monospace, monospace; background: #eef; border-radius: 3px; padding: 0 .35rem; overflow-wrap: anywhere; }
    .facts { font-size: .85rem; color: #333; }
    .facts div { overflow-wrap: anywhere; }
    .actions { display: flex; gap: .5rem; margin-top: .4rem; flex-wrap: wrap; }
    table { border-collapse: collapse; width: 100%; font-size: .85rem; background: var(--card); }
    th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
    .scroll { overflow-x: auto; }
    dialog { border: 1px solid #888; border-radius: 6px; max-width: 32rem; width: calc(100% - 2rem); }
    dialog label { display: flex; flex-direction: column; margin: .5rem 0; font-size: .9rem; }
    menu { display: flex; gap: .5rem; justify-content: flex-end; padding: 0; }
    @media (max-width: 600px) { body { font-size: 14px; } th, td { padding: .25rem; } }

    """

    static let script = #"""
    "use strict";
    // vigil's on-call page. Everything from the API is put on the page with textContent, never
    // as HTML: a label value like <img src=x onerror=alert(1)> shows as text.
    const $ = (id) => document.getElementById(id);
    const state = { alerts: [], silences: [], rules: [], health: null, delivery: { channels: [], recent: [] }, error: null, updated: null };

    function el(tag, cls, text) {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined && text !== null) e.textContent = String(text);
      return e;
    }

    function token() { return sessionStorage.getItem("vigil-token") || ""; }

    async function api(method, path, body) {
      const headers = { "Accept": "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (method !== "GET" && token()) headers["Authorization"] = "Bearer " + token();
      const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
      const text = await r.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
      if (!r.ok) throw new Error((json && json.error) || ("HTTP " + r.status));
      return json === null ? text : json;
    }

    function ago(iso) {
      const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
      if (s < 60) return s + "s";
      if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60 ? (s % 60) + "s" : "");
      return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
    }
    function until(iso) {
      const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
      if (s <= 0) return "now";
      return "in " + ago(new Date(Date.now() - s * 1000).toISOString());
    }

    // Matchers as silences take them: name="v", name!="v", name=~"re", name!~"re".
    function parseMatchers(text) {
      const out = [];
      const re = /\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(?:"([^"]*)"|'([^']*)')\s*,?/y;
      let s = text.trim().replace(/^\{/, "").replace(/\}$/, "");
      re.lastIndex = 0;
      while (re.lastIndex < s.length) {
        const m = re.exec(s);
        if (!m) return null;
        out.push({ name: m[1], op: m[2], value: m[3] !== undefined ? m[3] : m[4] });
      }
      return out;
    }
    function matches(ms, labels) {
      return ms.every((m) => {
        const v = labels[m.name] || "";
        if (m.op === "=") return v === m.value;
        if (m.op === "!=") return v !== m.value;
        let hit = false;
        try { hit = new RegExp("^(?:" + m.value + ")$").test(v); } catch (e) { hit = false; }
        return m.op === "=~" ? hit : !hit;
      });
    }
    function allLabels(a) { return Object.assign({ alertname: a.alert, severity: a.severity }, a.labels); }
    function quote(v) { return JSON.stringify(v); }

    function renderAlerts() {
      const box = $("alerts");
      box.replaceChildren();
      const filterText = $("filter").value.trim();
      const filter = filterText ? parseMatchers(filterText) : [];
      $("filter").setCustomValidity(filter === null ? "not a matcher list" : "");
      const order = { firing: 0, pending: 1 };
      const list = state.alerts.filter((a) => !filter || matches(filter, allLabels(a)))
        .sort((x, y) => (order[x.state] - order[y.state]) || x.alert.localeCompare(y.alert) || x.fingerprint.localeCompare(y.fingerprint));
      $("alert-count").textContent = list.length + " of " + state.alerts.length;
      if (!list.length) { box.append(el("p", "muted", state.alerts.length ? "No alert matches the filter." : "Nothing is pending or firing.")); return; }
      const by = $("group").value.trim();
      const groups = new Map();
      for (const a of list) {
        const key = by ? (allLabels(a)[by] || "(none)") : "";
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(a);
      }
      const target = location.hash.startsWith("#/alert/") ? location.hash.slice(8) : "";
      for (const [key, alerts] of groups) {
        if (by) box.append(el("h3", "muted", by + "=" + key));
        for (const a of alerts) box.append(alertCard(a, a.fingerprint === target));
      }
      if (target) { const t = document.querySelector(".card.target"); if (t && !t.dataset.scrolled) { t.dataset.scrolled = "1"; t.scrollIntoView(); } }
    }

    function alertCard(a, isTarget) {
      const card = el("article", "card " + a.severity + (isTarget ? " target" : ""));
      card.id = "alert-" + a.fingerprint;
      card.dataset.fingerprint = a.fingerprint;
      const top = el("div", "top");
      top.append(el("span", "sev " + a.severity, (a.severity === "critical" ? "!! " : a.severity === "warning" ? "! " : "i ") + a.severity));
      top.append(el("span", "name", a.alert));
      top.append(el("span", "state", a.state));
      top.append(el("span", "muted", "since " + ago(a.activeAt) + " · value " + a.value));
      card.append(top);
      const labels = el("div", "labels");
      for (const [k, v] of Object.entries(a.labels)) labels.append(el("span", "label", k + "=" + quote(v)));
      card.append(labels);
      const facts = el("div", "facts");
      if (a.summary) facts.append(el("div", "summary", a.summary));
      if (a.runbook) {
        const d = el("div", null, "Runbook: ");
        const link = el("a", null, a.runbook);
        if (/^https?:\/\//.test(a.runbook)) { link.href = a.runbook; link.rel = "noreferrer noopener"; link.target = "_blank"; }
        d.append(link);
        facts.append(d);
      }
      if (a.ack) facts.append(el("div", "acked", "Acked by " + (a.ack.by || "?") + (a.ack.comment ? ": " + a.ack.comment : "") + (a.ack.until ? " (until " + new Date(a.ack.until).toLocaleString() + ")" : " (until it resolves)")));
      if (a.next) facts.append(el("div", "next", "Next: " + a.next.channels.join(", ") + " " + until(a.next.at)));
      if (a.silencedBy && a.silencedBy.length) facts.append(el("div", "silenced", "Silenced by " + a.silencedBy.join(", ")));
      if (a.inhibitedBy) facts.append(el("div", "inhibited", "Inhibited by " + a.inhibitedBy));
      card.append(facts);
      if (a.state === "firing") {
        const actions = el("div", "actions");
        if (!a.ack) {
          const ack = el("button", "ack", "Ack");
          ack.type = "button";
          ack.addEventListener("click", () => openAck(a));
          actions.append(ack);
        }
        const silence = el("button", "silence", "Silence");
        silence.type = "button";
        silence.addEventListener("click", () => openSilence(a));
        actions.append(silence);
        const link = el("a", "muted", "link");
        link.href = "#/alert/" + a.fingerprint;
        actions.append(link);
        card.append(actions);
      }
      return card;
    }

    function renderSilences() {
      const box = $("silences");
      box.replaceChildren();
      if (!state.silences.length) { box.append(el("p", "muted", "No silence is active or pending.")); return; }
      const table = el("table");
      const head = el("tr");
      for (const h of ["Matchers", "By", "Comment", "Starts", "Ends", "Mutes now", ""]) head.append(el("th", null, h));
      table.append(head);
      for (const s of state.silences) {
        const tr = el("tr", "silence-row");
        tr.dataset.id = s.id;
        const muting = state.alerts.filter((a) => (a.silencedBy || []).includes(s.id)).length;
        for (const v of [s.matchers, s.createdBy, s.comment, new Date(s.startsAt).toLocaleString(), new Date(s.endsAt).toLocaleString(), muting]) tr.append(el("td", null, v));
        const td = el("td");
        const expire = el("button", "expire", "Expire");
        expire.type = "button";
        expire.addEventListener("click", () => act(() => api("DELETE", "/api/v1/silences/" + encodeURIComponent(s.id))));
        td.append(expire);
        tr.append(td);
        table.append(tr);
      }
      const wrap = el("div", "scroll");
      wrap.append(table);
      box.append(wrap);
    }

    function renderRules() {
      const box = $("rules");
      box.replaceChildren();
      const counts = new Map();
      for (const a of state.alerts) counts.set(a.alert + "/" + a.state, (counts.get(a.alert + "/" + a.state) || 0) + 1);
      const table = el("table");
      const head = el("tr");
      for (const h of ["Rule", "State", "Severity", "Channels", "Firing", "Pending", "Last evaluated", "Written at"]) head.append(el("th", null, h));
      table.append(head);
      for (const r of state.rules) {
        const tr = el("tr");
        const firing = counts.get(r.name + "/firing") || 0, pending = counts.get(r.name + "/pending") || 0;
        for (const v of [r.name, firing ? "firing" : pending ? "pending" : "inactive", r.severity, r.channels.join(", "), firing, pending,
          r.lastEvaluation ? ago(r.lastEvaluation) + " ago" : "not yet"]) tr.append(el("td", null, v));
        const at = el("td");
        const link = el("a", null, r.file + ":" + r.line);
        link.href = "/api/v1/rules/" + encodeURIComponent(r.name);
        at.append(link);
        tr.append(at);
        table.append(tr);
      }
      const wrap = el("div", "scroll");
      wrap.append(table);
      box.append(wrap);
    }

    function table(headers, rows, rowClass) {
      const t = el("table");
      const head = el("tr");
      for (const h of headers) head.append(el("th", null, h));
      t.append(head);
      for (const r of rows) { const tr = el("tr", rowClass); for (const v of r) tr.append(el("td", null, v)); t.append(tr); }
      const wrap = el("div", "scroll");
      wrap.append(t);
      return wrap;
    }
    function when(iso) { return iso ? ago(iso) + " ago" : "never"; }

    // Per channel: counts, what waits in the outbox, the last success and the last error.
    function renderDelivery() {
      const box = $("delivery");
      box.replaceChildren();
      const d = state.delivery;
      box.append(table(["Channel", "Type", "Sent", "Failed", "Retries", "Relayed to the cluster", "Waiting", "Last success", "Last error"],
        d.channels.map((c) => [c.name, c.type, c.sent, c.failed, c.retried, c.relayed, c.outbox, when(c.lastSuccess),
          c.lastError ? c.lastError + " (" + when(c.lastErrorAt) + ")" : "none"])));
      const recent = $("recent");
      recent.replaceChildren();
      if (!d.recent.length) { recent.append(el("p", "muted", "No notification yet.")); return; }
      recent.append(table(["When", "Channel", "Kind", "Alert", "Labels", "Status"],
        d.recent.map((r) => [new Date(r.at).toLocaleTimeString(), r.channel, r.kind, r.alert,
          Object.entries(r.labels).map(([k, v]) => k + "=" + quote(v)).join(" "), r.status + (r.detail ? ": " + r.detail : "")]), "notification-row"));
    }

    function renderSurroundings() {
      const box = $("surroundings");
      box.replaceChildren();
      const h = state.health;
      if (!h) return;
      const items = (h.dependencies || []).map((d) => ["probe " + d.name, d.status, d.target, d.last_error || ""])
        .concat((h.processes || []).map((p) => ["process " + p.name, p.status, p.pid === null ? "" : "pid " + p.pid, p.last_error || ""]));
      if (!items.length) { box.append(el("p", "muted", "No probe or watched process is configured.")); return; }
      const table = el("table");
      for (const it of items) { const tr = el("tr"); for (const v of it) tr.append(el("td", null, v)); table.append(tr); }
      const wrap = el("div", "scroll");
      wrap.append(table);
      box.append(wrap);
    }

    function renderHeader() {
      const h = state.health;
      const pill = $("stream");
      if (h) {
        const age = h.stream.last_message_age_seconds;
        const silent = !h.stream.connected || age > 10;
        pill.textContent = !h.stream.connected ? "Stream disconnected" : (silent ? "Stream silent for " + Math.round(age) + " s" : "Stream live");
        pill.classList.toggle("bad", silent);
      }
      $("updated").textContent = state.updated ? "updated " + state.updated.toLocaleTimeString() : "";
      const err = $("error");
      err.hidden = !state.error;
      err.textContent = state.error || "";
    }

    function render() { renderHeader(); renderAlerts(); renderSilences(); renderRules(); renderDelivery(); renderSurroundings(); }

    async function refresh() {
      try {
        const [alerts, silences, rules, health, delivery] = await Promise.all([
          api("GET", "/api/v1/alerts"), api("GET", "/api/v1/silences"), api("GET", "/api/v1/rules"), api("GET", "/health/detailed"), api("GET", "/api/v1/delivery")]);
        Object.assign(state, { alerts, silences, rules, health, delivery, error: null, updated: new Date() });
      } catch (e) {
        state.error = "Cannot reach vigil: " + e.message;
      }
      if (!document.querySelector("dialog[open]")) render(); else renderHeader();
    }

    async function act(f) {
      try { await f(); state.error = null; } catch (e) { state.error = e.message; }
      await refresh();
    }

    let current = null;
    function openAck(a) {
      current = a;
      $("ack-name").textContent = a.alert;
      $("ack-comment").value = "";
      $("ack-for").value = "";
      $("ack-dialog").showModal();
    }
    function openSilence(a) {
      current = a;
      $("silence-matchers").value = Object.entries(Object.assign({ alertname: a.alert }, a.labels)).map(([k, v]) => k + "=" + quote(v)).join(", ");
      $("silence-comment").value = "";
      $("silence-dialog").showModal();
    }

    document.addEventListener("DOMContentLoaded", () => {
      $("token").value = token();
      $("token-button").addEventListener("click", () => { $("token-box").hidden = !$("token-box").hidden; });
      $("token-save").addEventListener("click", () => { sessionStorage.setItem("vigil-token", $("token").value); $("token-box").hidden = true; });
      $("filter").addEventListener("input", renderAlerts);
      $("group").addEventListener("input", renderAlerts);
      window.addEventListener("hashchange", renderAlerts);
      $("ack-dialog").addEventListener("close", () => {
        if ($("ack-dialog").returnValue !== "ok" || !current) return;
        const body = { comment: $("ack-comment").value, by: "on-call page" };
        if ($("ack-for").value.trim()) body.for = $("ack-for").value.trim();
        const fp = current.fingerprint;
        act(() => api("POST", "/api/v1/alerts/" + fp + "/ack", body));
      });
      $("silence-dialog").addEventListener("close", () => {
        if ($("silence-dialog").returnValue !== "ok") return;
        const body = { matchers: $("silence-matchers").value, for: $("silence-for").value.trim(), comment: $("silence-comment").value, createdBy: "on-call page" };
        act(() => api("POST", "/api/v1/silences", body));
      });
      refresh();
      setInterval(refresh, 1000);
      setInterval(renderHeader, 1000);
    });

    """#
}
