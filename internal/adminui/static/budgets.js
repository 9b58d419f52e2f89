// Budgets (GET/PUT /admin/api/{users,apps,keys}/{id}/budget) and kill
// switches (GET/POST/DELETE /admin/api/killswitch).
"use strict";
(function () {
  const G = window.GW;
  const $ = (id) => document.getElementById(id);
  const path = () => "/admin/api/" + $("b-scope").value + "/" + encodeURIComponent($("b-target").value.trim()) + "/budget";

  function show(b) {
    const dl = $("budget-view");
    dl.replaceChildren();
    const fact = (k, v) => dl.append(G.el("dt", { text: k }), G.el("dd", { text: v }));
    fact("Month", b.month);
    fact("Budget", b.monthly_usd === null ? "none" : G.usd(b.monthly_usd) + " (" + b.source + ")");
    fact("Spent", G.usd(b.spent_usd));
    fact("Reserved", G.usd(b.reserved_usd));
    fact("Remaining", b.remaining_usd === null ? "—" : G.usd(b.remaining_usd));
    fact("Status", b.exhausted ? "exhausted: blocked until the month turns" : "ok");
    dl.hidden = false;
    $("b-amount").value = b.source === "explicit" ? String(b.monthly_usd) : "";
  }

  $("b-load").addEventListener("click", async () => {
    if (!$("b-target").value.trim()) { G.status("Enter a target first.", "error"); return; }
    const b = await G.guard("Loading the budget", () => G.api("GET", path()));
    if (b) show(b);
  });
  $("budget-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = $("b-amount").value.trim();
    const b = await G.guard("Saving the budget", () => G.api("PUT", path(), { monthly_usd: v === "" ? null : v }));
    if (b) { show(b); G.status("Budget saved.", "ok"); }
  });

  async function loadKills() {
    G.loading($("kill-table").tBodies[0]);
    await G.guard("Loading kill switches", async () => {
      const ks = (await G.api("GET", "/admin/api/killswitch?limit=1000")).data;
      G.fill($("kill-table").tBodies[0], ks, (k) => G.el("tr", {},
        G.el("th", { scope: "row", text: String(k.id) }), G.td(k.scope), G.td(k.target || "—"), G.td(k.reason), G.td(k.created_by), G.td(G.date(k.created_at)),
        G.el("td", { class: "actions" }, G.el("button", { type: "button", class: "secondary", text: "Lift", "aria-label": "Lift kill switch " + k.id, onclick: () => lift(k) }))),
        "No kill switch is engaged.");
    });
  }
  async function lift(k) {
    const ok = await G.guard("Lifting kill switch " + k.id, () => G.api("DELETE", "/admin/api/killswitch/" + k.id).then(() => true));
    if (ok) { await loadKills(); G.status("Kill switch " + k.id + " lifted.", "ok"); }
  }
  $("kill-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = G.formJSON(e.target);
    if (f.scope === "global" && !confirm("Block every request to the gateway?")) return;
    const k = await G.guard("Engaging kill switch", () => G.api("POST", "/admin/api/killswitch", f));
    if (k) { e.target.reset(); await loadKills(); G.status("Kill switch " + k.id + " engaged.", "ok"); }
  });

  (async () => {
    try {
      const users = (await G.api("GET", "/admin/api/users?limit=1000")).data;
      for (const u of users) $("b-users").append(G.el("option", { value: u.oid, text: u.email }));
    } catch (e) { /* the datalist is a convenience */ }
  })();
  loadKills();
})();
