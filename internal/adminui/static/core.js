// Shared helpers of the admin UI: API calls with the session's CSRF token,
// status messages, DOM building (never innerHTML with data), tables and
// hand-written SVG charts.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const SVG = "http://www.w3.org/2000/svg";

  // api calls a JSON route; it resolves to the decoded body (null for 204)
  // and rejects with an Error carrying the API's message.
  async function api(method, path, body) {
    const opt = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET" && method !== "HEAD") opt.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      opt.headers["Content-Type"] = "application/json";
      opt.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, opt);
    } catch (e) {
      throw new Error("The gateway could not be reached: " + e.message);
    }
    if (resp.status === 401) {
      location.assign("/admin/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("Your session has ended; please sign in again.");
    }
    if (resp.status === 204) return null;
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : "Request failed (HTTP " + resp.status + ").";
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // status shows a message in the page's live region; kind is "", "loading",
  // "error" or "ok".
  function status(msg, kind) {
    const s = document.getElementById("status");
    if (!s) return;
    s.textContent = msg || "";
    s.className = "status" + (kind ? " " + kind : "");
    s.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  // el builds an element: attrs are properties/attributes, children nodes or text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const usdFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 });
  const intFmt = new Intl.NumberFormat("en-US");
  const usd = (v) => usdFmt.format(Number(v || 0));
  const usd2Fmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const usd2 = (v) => usd2Fmt.format(Number(v || 0));
  const int = (v) => intFmt.format(Number(v || 0));
  const pct = (v) => (Number(v) * 100).toFixed(1) + "%";
  function date(v) {
    if (!v) return "—";
    const d = new Date(v);
    return isNaN(d) ? String(v) : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  // fill replaces a tbody's rows; with no rows it shows emptyMsg across the table.
  function fill(tbody, rows, render, emptyMsg) {
    tbody.replaceChildren();
    if (!rows || rows.length === 0) {
      const cols = tbody.closest("table").querySelectorAll("thead th").length || 1;
      tbody.append(el("tr", { class: "empty-row" }, el("td", { colspan: cols, text: emptyMsg || "Nothing here yet." })));
      return;
    }
    for (const r of rows) tbody.append(render(r));
  }

  // loading puts a loading row into a tbody.
  function loading(tbody) {
    fill(tbody, [], null, "Loading…");
  }

  // cell helpers.
  const td = (text, cls) => el("td", { class: cls, text: text });
  const money = (v) => el("td", { class: "num", dataset: { value: String(v) }, text: usd(v) });
  const badge = (on, yes, no) => el("td", {}, el("span", { class: "badge " + (on ? "on" : "off"), text: on ? (yes || "active") : (no || "disabled") }));

  // sortable makes a table's header buttons sort rows (state kept on the table).
  function sortable(table, getRows, render) {
    const state = { key: null, dir: -1 };
    const ths = table.querySelectorAll("thead th[data-key]");
    const pre = table.querySelector('th[aria-sort]');
    if (pre) { state.key = pre.dataset.key; state.dir = pre.getAttribute("aria-sort") === "ascending" ? 1 : -1; }
    function apply() {
      const rows = getRows().slice();
      if (state.key) {
        const th = table.querySelector('th[data-key="' + state.key + '"]');
        const num = th && th.dataset.type === "num";
        rows.sort((a, b) => {
          const x = a[state.key], y = b[state.key];
          const c = num ? Number(x) - Number(y) : String(x).localeCompare(String(y));
          return c * state.dir;
        });
      }
      ths.forEach((th) => {
        if (th.dataset.key === state.key) th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
        else th.removeAttribute("aria-sort");
      });
      render(rows);
    }
    ths.forEach((th) => {
      th.querySelector("button").addEventListener("click", () => {
        if (state.key === th.dataset.key) state.dir = -state.dir;
        else { state.key = th.dataset.key; state.dir = th.dataset.type === "num" ? -1 : 1; }
        apply();
      });
    });
    return apply;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) if (c) e.append(c);
    return e;
  }

  // barChart draws horizontal bars, one per item {label, value}, largest first.
  function barChart(box, items, label, emptyMsg) {
    box.replaceChildren();
    if (!items.length || items.every((i) => !Number(i.value))) {
      box.append(el("p", { class: "empty", text: emptyMsg }));
      return;
    }
    const top = items.slice(0, 12);
    const max = Math.max(...top.map((i) => Number(i.value))) || 1;
    // The drawing is as wide as its box, so its text stays at 12px.
    const W = Math.max(300, Math.round(box.clientWidth || 640));
    const rowH = 26, labelW = Math.min(190, Math.round(W * 0.4)), barW = W - labelW - 80;
    const H = top.length * rowH + 6;
    const g = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label, class: "bars", preserveAspectRatio: "xMinYMin meet" });
    g.append(svg("title", {}, document.createTextNode(label)));
    top.forEach((it, i) => {
      const y = i * rowH + 4, w = Math.max(1, (Number(it.value) / max) * barW);
      const name = it.label.length > 26 ? it.label.slice(0, 25) + "…" : it.label;
      const t = svg("text", { x: labelW - 8, y: y + 15, "text-anchor": "end", class: "lbl" });
      t.textContent = name;
      const r = svg("rect", { x: labelW, y: y, width: w.toFixed(1), height: rowH - 8, rx: 3, class: "bar" });
      r.append(svg("title", {}, document.createTextNode(it.label + ": " + usd(it.value))));
      const v = svg("text", { x: labelW + w + 6, y: y + 15, class: "val" });
      v.textContent = usd(it.value);
      g.append(t, r, v);
    });
    box.append(g);
  }

  // dailyChart draws one column per day of the month, with a y-axis in USD.
  function dailyChart(box, days, label, emptyMsg) {
    box.replaceChildren();
    if (!days.length || days.every((d) => !Number(d.total_cost))) {
      box.append(el("p", { class: "empty", text: emptyMsg }));
      return;
    }
    const W = Math.max(300, Math.round(box.clientWidth || 640)), H = 220, L = 64, B = 24, T = 10;
    const max = Math.max(...days.map((d) => Number(d.total_cost))) || 1;
    const step = (W - L - 8) / days.length;
    const g = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label, class: "daily" });
    g.append(svg("title", {}, document.createTextNode(label)));
    for (const f of [0, 0.5, 1]) {
      const y = H - B - f * (H - B - T);
      g.append(svg("line", { x1: L, x2: W - 4, y1: y, y2: y, class: "grid" }));
      const t = svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "axis" });
      t.textContent = usd2(max * f);
      g.append(t);
    }
    days.forEach((d, i) => {
      const v = Number(d.total_cost), h = (v / max) * (H - B - T);
      const x = L + i * step + 1;
      const r = svg("rect", { x: x.toFixed(1), y: (H - B - h).toFixed(1), width: Math.max(1, step - 2).toFixed(1), height: h.toFixed(1), class: "bar" });
      r.append(svg("title", {}, document.createTextNode(d.date + ": " + usd(v) + ", " + int(d.requests) + " requests")));
      g.append(r);
      const day = Number(d.date.slice(8));
      if (day === 1 || day % 5 === 0) {
        const t = svg("text", { x: (x + step / 2).toFixed(1), y: H - 6, "text-anchor": "middle", class: "axis" });
        t.textContent = String(day);
        g.append(t);
      }
    });
    box.append(g);
  }

  // guard runs an async action, showing loading and error states.
  async function guard(msg, fn) {
    status(msg + "…", "loading");
    try {
      const r = await fn();
      status("", "");
      return r;
    } catch (e) {
      status(e.message, "error");
      return undefined;
    }
  }

  // formJSON reads a form's named fields into an object of strings.
  function formJSON(form) {
    const o = {};
    for (const [k, v] of new FormData(form).entries()) o[k] = typeof v === "string" ? v.trim() : v;
    return o;
  }

  const toggle = document.querySelector(".menu-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      document.getElementById("mainnav").classList.toggle("open", open);
    });
  }

  window.GW = { api, status, el, usd, int, pct, date, fill, loading, td, money, badge, sortable, barChart, dailyChart, guard, formJSON, csrf };
})();
