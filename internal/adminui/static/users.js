// Users and keys: list, create, deactivate; create a key (secret shown once), revoke.
"use strict";
(function () {
  const G = window.GW;
  const $ = (id) => document.getElementById(id);
  let users = [];
  let current = null;

  async function load() {
    G.loading($("users-table").tBodies[0]);
    await G.guard("Loading users", async () => {
      users = (await G.api("GET", "/admin/api/users?limit=1000")).data;
      render();
    });
  }

  function render() {
    const q = $("user-filter").value.trim().toLowerCase();
    const rows = q ? users.filter((u) => u.email.toLowerCase().includes(q) || u.oid.toLowerCase().includes(q)) : users;
    G.fill($("users-table").tBodies[0], rows, (u) => G.el("tr", { dataset: { oid: u.oid } },
      G.el("th", { scope: "row", text: u.email }), G.el("td", {}, G.el("code", { text: u.oid })), G.td(u.role),
      G.badge(u.is_active, "active", "deactivated"),
      G.el("td", { class: "actions" },
        G.el("button", { type: "button", class: "secondary", "data-action": "keys", text: "Keys", "aria-label": "Keys of " + u.email, onclick: () => openKeys(u) }),
        u.is_active
          ? G.el("button", { type: "button", class: "danger", "data-action": "deactivate", text: "Deactivate", "aria-label": "Deactivate " + u.email, onclick: () => setActive(u, false) })
          : G.el("button", { type: "button", class: "secondary", "data-action": "activate", text: "Activate", "aria-label": "Activate " + u.email, onclick: () => setActive(u, true) }))),
      q ? "No user matches “" + q + "”." : "No users yet. Create one above.");
  }

  async function setActive(u, active) {
    if (!active && !confirm("Deactivate " + u.email + "? Their keys stop working.")) return;
    const ok = await G.guard((active ? "Activating " : "Deactivating ") + u.email, () =>
      G.api("PATCH", "/admin/api/users/" + encodeURIComponent(u.oid), { is_active: active }));
    if (ok) { await load(); G.status(u.email + (active ? " activated." : " deactivated."), "ok"); }
  }

  async function openKeys(u) {
    current = u;
    $("keys-panel").hidden = false;
    $("keys-title").textContent = "Keys of " + u.email;
    $("new-key").hidden = true;
    await loadKeys();
    $("key-name").focus();
  }

  async function loadKeys() {
    const tb = $("keys-table").tBodies[0];
    G.loading(tb);
    await G.guard("Loading keys", async () => {
      const keys = (await G.api("GET", "/admin/api/users/" + encodeURIComponent(current.oid) + "/keys?limit=1000")).data;
      G.fill(tb, keys, (k) => G.el("tr", { dataset: { key: String(k.id) } },
        G.el("th", { scope: "row", text: k.name }), G.el("td", {}, G.el("code", { text: k.prefix + "…" })),
        G.badge(k.is_active, "active", "revoked"), G.td(G.date(k.created_at)), G.td(G.date(k.last_used_at)), G.td(G.date(k.expires_at)),
        G.el("td", { class: "actions" }, k.is_active
          ? G.el("button", { type: "button", class: "danger", "data-action": "revoke", text: "Revoke", "aria-label": "Revoke key " + k.name, onclick: () => revoke(k) })
          : "")),
        "This user has no keys.");
    });
  }

  async function revoke(k) {
    if (!confirm("Revoke key " + k.name + " (" + k.prefix + "…)? Anything using it stops working at once.")) return;
    const ok = await G.guard("Revoking " + k.name, () => G.api("DELETE", "/admin/api/keys/" + k.id).then(() => true));
    if (ok) { await loadKeys(); G.status("Key " + k.name + " revoked.", "ok"); }
  }

  $("key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = G.formJSON(e.target);
    const body = { name: f.name };
    if (f.expires) body.expires_at = f.expires + "T00:00:00Z";
    const k = await G.guard("Creating key", () => G.api("POST", "/admin/api/users/" + encodeURIComponent(current.oid) + "/keys", body));
    if (!k) return;
    e.target.reset();
    $("new-key-value").textContent = k.key;
    $("new-key").hidden = false;
    await loadKeys();
    G.status("Key " + k.name + " created. Copy it now: it is shown only once.", "ok");
    $("copy-key").focus();
  });
  $("copy-key").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("new-key-value").textContent); G.status("Key copied.", "ok"); }
    catch (e) { G.status("Copy failed; select the key and copy it by hand.", "error"); }
  });
  $("dismiss-key").addEventListener("click", () => { $("new-key-value").textContent = ""; $("new-key").hidden = true; });
  $("user-filter").addEventListener("input", render);
  $("user-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const u = await G.guard("Creating user", () => G.api("POST", "/admin/api/users", G.formJSON(e.target)));
    if (u) { e.target.reset(); await load(); G.status("User " + u.email + " created.", "ok"); }
  });
  load();
})();
