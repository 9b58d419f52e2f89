// Self-service: the signed-in user's month from GET /v1/me/usage.
"use strict";
(function () {
  const G = window.GW;
  const $ = (id) => document.getElementById(id);
  const breakdown = (tbody, rows, name, emptyMsg) => G.fill(tbody, rows, (r) => G.el("tr", {},
    G.el("th", { scope: "row", text: name(r) }), G.td(G.int(r.requests), "num"), G.money(r.total_cost)), emptyMsg);

  async function load(month) {
    const qs = month ? "?month=" + encodeURIComponent(month) : "";
    for (const t of ["apps-table", "models-table", "keys-table"]) G.loading($(t).tBodies[0]);
    await G.guard("Loading your usage", async () => {
      const m = await G.api("GET", "/v1/me/usage" + qs);
      $("month").value = m.month;
      $("csv").href = "/v1/me/usage?format=csv&month=" + m.month;
      $("total-cost").textContent = G.usd(m.total_cost);
      $("total-cost").dataset.value = String(m.total_cost);
      $("total-requests").textContent = G.int(m.total_requests);
      $("total-requests").dataset.value = String(m.total_requests);
      $("total-tokens").textContent = G.int(m.prompt_tokens) + " / " + G.int(m.completion_tokens);
      const empty = Number(m.total_requests) === 0;
      $("empty").hidden = !empty;
      $("empty").textContent = empty ? "No usage in " + m.month + "." : "";
      G.dailyChart($("chart-daily"), m.days, "My daily cost in " + m.month, "No usage in " + m.month + ".");
      breakdown($("apps-table").tBodies[0], m.apps, (a) => a.app_id === null ? "(no app)" : a.name || a.app_id, "No usage in " + m.month + ".");
      breakdown($("models-table").tBodies[0], m.models, (r) => r.model, "No usage in " + m.month + ".");
      G.fill($("keys-table").tBodies[0], m.keys, (k) => G.el("tr", {},
        G.el("th", { scope: "row", text: k.name }), G.el("td", {}, G.el("code", { text: k.prefix + "…" })),
        G.badge(k.is_active, "active", "revoked"), G.td(G.date(k.created_at)), G.td(G.date(k.last_used_at)), G.td(G.date(k.expires_at))),
        "You have no keys.");
    });
  }
  $("month-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const m = $("month").value;
    history.replaceState(null, "", m ? "?month=" + m : location.pathname);
    load(m);
  });
  load(new URLSearchParams(location.search).get("month") || "");
})();
