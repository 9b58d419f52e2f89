// Billing dashboard: GET /admin/api/billing and its /apps, /models and /daily
// breakdowns for one month.
"use strict";
(function () {
  const G = window.GW;
  const $ = (id) => document.getElementById(id);
  let users = [];
  let total = 0;

  const renderUsers = (rows) => {
    const q = $("user-search").value.trim().toLowerCase();
    const shown = q ? rows.filter((u) => u.email.toLowerCase().includes(q) || u.user_oid.toLowerCase().includes(q)) : rows;
    G.fill($("users-table").tBodies[0], shown, (u) => G.el("tr", { dataset: { oid: u.user_oid } },
      G.el("th", { scope: "row", text: u.email || u.user_oid, title: u.user_oid }),
      G.td(G.int(u.requests), "num"), G.money(u.cost), G.td(G.pct(u.share), "num")),
      q ? "No user matches “" + q + "”." : "No users with usage this month.");
  };
  const sortUsers = G.sortable($("users-table"), () => users, renderUsers);

  const breakdown = (tbody, rows, name, emptyMsg) => G.fill(tbody, rows, (r) => G.el("tr", {},
    G.el("th", { scope: "row", text: name(r) }), G.td(G.int(r.requests), "num"), G.money(r.total_cost)), emptyMsg);

  async function load(month) {
    const qs = month ? "?month=" + encodeURIComponent(month) : "";
    for (const t of ["users-table", "apps-table", "models-table"]) G.loading($(t).tBodies[0]);
    await G.guard("Loading " + (month || "this month"), async () => {
      const [m, apps, models, daily] = await Promise.all([
        G.api("GET", "/admin/api/billing" + qs + (qs ? "&" : "?") + "limit=1000"),
        G.api("GET", "/admin/api/billing/apps" + qs),
        G.api("GET", "/admin/api/billing/models" + qs),
        G.api("GET", "/admin/api/billing/daily" + qs),
      ]);
      $("month").value = m.month;
      $("csv").href = "/admin/api/billing?format=csv&month=" + m.month;
      $("csv").setAttribute("download", "billing-" + m.month + ".csv");
      total = Number(m.total_cost);
      $("total-cost").textContent = G.usd(m.total_cost);
      $("total-cost").dataset.value = String(m.total_cost);
      $("total-requests").textContent = G.int(m.total_requests);
      $("total-requests").dataset.value = String(m.total_requests);
      $("total-users").textContent = G.int(m.users.length);
      const empty = Number(m.total_requests) === 0;
      $("empty").hidden = !empty;
      $("empty").textContent = empty ? "No usage in " + m.month + "." : "";
      users = m.users.map((u) => ({ user_oid: u.user_oid, email: u.email || u.user_oid, requests: u.requests, cost: u.total_cost, share: total ? Number(u.total_cost) / total : 0 }));
      sortUsers();
      G.barChart($("chart-users"), m.users.map((u) => ({ label: u.email || u.user_oid, value: u.total_cost })),
        "Cost per user in " + m.month, "No usage in " + m.month + ".");
      G.dailyChart($("chart-daily"), daily.days, "Daily cost in " + m.month, "No usage in " + m.month + ".");
      breakdown($("apps-table").tBodies[0], apps.apps, (a) => a.app_id === null ? "(no app)" : a.name || a.app_id, "No usage in " + m.month + ".");
      breakdown($("models-table").tBodies[0], models.models, (r) => r.model, "No usage in " + m.month + ".");
    });
  }

  $("user-search").addEventListener("input", () => sortUsers());
  $("month-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const m = $("month").value;
    history.replaceState(null, "", m ? "?month=" + m : location.pathname);
    load(m);
  });
  load(new URLSearchParams(location.search).get("month") || "");
})();
