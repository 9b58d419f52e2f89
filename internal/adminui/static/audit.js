// Audit log with filters (GET /admin/api/audit), newest first, paged.
"use strict";
(function () {
  const G = window.GW;
  const $ = (id) => document.getElementById(id);
  const limit = 50;
  let offset = 0;

  function query() {
    const f = G.formJSON($("audit-form"));
    const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    for (const k of ["actor", "action", "target_type", "target"]) if (f[k]) q.set(k, f[k]);
    if (f.since) q.set("since", f.since + "T00:00:00Z");
    if (f.until) q.set("until", f.until + "T23:59:59Z");
    return q.toString();
  }

  function change(e) {
    if (!e.before && !e.after) return "—";
    const d = G.el("details", {}, G.el("summary", { text: "Show" }));
    if (e.before) d.append(G.el("p", { text: "Before" }), G.el("pre", { text: JSON.stringify(e.before, null, 2) }));
    if (e.after) d.append(G.el("p", { text: "After" }), G.el("pre", { text: JSON.stringify(e.after, null, 2) }));
    return d;
  }

  async function load() {
    G.loading($("audit-table").tBodies[0]);
    await G.guard("Loading the audit log", async () => {
      const r = await G.api("GET", "/admin/api/audit?" + query());
      G.fill($("audit-table").tBodies[0], r.data, (e) => G.el("tr", {},
        G.el("th", { scope: "row", text: G.date(e.time) }), G.td(e.actor || "—"), G.el("td", {}, G.el("code", { text: e.action })),
        G.td(e.target_type + " " + e.target), G.td(e.client_addr || "—"), G.el("td", {}, change(e))),
        offset ? "No older entries." : "No audit entries match these filters.");
      $("prev").disabled = offset === 0;
      $("next").disabled = !r.has_more;
    });
  }

  $("audit-form").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); load(); });
  $("next").addEventListener("click", () => { offset += limit; load(); });
  load();
})();
