// Apps: list, register (owner picker), enable/disable, delete.
"use strict";
(function () {
  const G = window.GW;
  const $ = (id) => document.getElementById(id);
  let emails = {};

  async function load() {
    G.loading($("apps-table").tBodies[0]);
    await G.guard("Loading apps", async () => {
      const [apps, users] = await Promise.all([
        G.api("GET", "/admin/api/apps?limit=1000"),
        G.api("GET", "/admin/api/users?limit=1000"),
      ]);
      emails = {};
      const sel = $("app-owner"), keep = sel.value;
      sel.replaceChildren(G.el("option", { value: "", text: "Choose an owner…" }));
      for (const u of users.data) {
        emails[u.oid] = u.email;
        if (u.is_active) sel.append(G.el("option", { value: u.oid, text: u.email + " (" + u.oid + ")" }));
      }
      sel.value = keep;
      render(apps.data);
    });
  }

  function render(apps) {
    G.fill($("apps-table").tBodies[0], apps, (a) => G.el("tr", { dataset: { app: a.app_id } },
      G.el("th", { scope: "row" }, G.el("code", { text: a.app_id })),
      G.td(a.name), G.td(emails[a.owner_id] || a.owner_id), G.badge(a.is_active, "enabled", "disabled"),
      G.td(G.date(a.created_at)),
      G.el("td", { class: "actions" },
        G.el("button", { type: "button", class: "secondary", "data-action": "toggle", text: a.is_active ? "Disable" : "Enable",
          "aria-label": (a.is_active ? "Disable " : "Enable ") + a.app_id, onclick: () => toggle(a) }),
        G.el("button", { type: "button", class: "danger", "data-action": "delete", text: "Delete",
          "aria-label": "Delete " + a.app_id, onclick: () => del(a) }))),
      "No apps are registered yet. Register one above.");
  }

  async function toggle(a) {
    const ok = await G.guard((a.is_active ? "Disabling " : "Enabling ") + a.app_id, () =>
      G.api("PATCH", "/admin/api/apps/" + encodeURIComponent(a.app_id) + "/toggle", { is_active: !a.is_active }));
    if (ok !== undefined) { await load(); G.status("App " + a.app_id + (a.is_active ? " disabled." : " enabled."), "ok"); }
  }

  async function del(a) {
    if (!confirm("Delete app " + a.app_id + "? Its usage history is kept.")) return;
    const ok = await G.guard("Deleting " + a.app_id, () => G.api("DELETE", "/admin/api/apps/" + encodeURIComponent(a.app_id)).then(() => true));
    if (ok) { await load(); G.status("App " + a.app_id + " deleted.", "ok"); }
  }

  $("app-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = G.formJSON(e.target);
    const owner = f.owner_id;
    delete f.owner_id;
    const ok = await G.guard("Registering " + f.app_id, () => G.api("POST", "/admin/api/apps?owner_id=" + encodeURIComponent(owner), f));
    if (ok) { e.target.reset(); await load(); G.status("App " + ok.app_id + " registered.", "ok"); }
  });
  load();
})();
