// Models and endpoints: list, create, edit prices and limits, enable/disable.
"use strict";
(function () {
  const G = window.GW;
  const $ = (id) => document.getElementById(id);
  let current = null;
  const priceFields = [["context_window", "Context window", "int"], ["max_output_tokens", "Max output tokens", "int"],
    ["input_price_per_1m", "Input $/1M", "usd"], ["output_price_per_1m", "Output $/1M", "usd"], ["cached_input_price_per_1m", "Cached input $/1M", "usd"]];
  const limitFields = [["weight", "Weight"], ["priority", "Priority"], ["rpm_limit", "RPM limit"], ["tpm_limit", "TPM limit"]];

  async function load() {
    G.loading($("models-table").tBodies[0]);
    await G.guard("Loading models", async () => {
      const models = (await G.api("GET", "/admin/api/models?limit=1000")).data;
      G.fill($("models-table").tBodies[0], models, (m) => G.el("tr", { dataset: { model: m.name } },
        G.el("th", { scope: "row", text: m.name }), G.td(G.int(m.context_window), "num"), G.td(G.int(m.max_output_tokens), "num"),
        G.td(String(m.input_price_per_1m), "num"), G.td(String(m.output_price_per_1m), "num"), G.td(String(m.cached_input_price_per_1m), "num"),
        G.badge(m.is_active, "enabled", "disabled"),
        G.el("td", { class: "actions" },
          G.el("button", { type: "button", class: "secondary", text: "Edit", "aria-label": "Edit " + m.name, onclick: (e) => editModel(m, e.target.closest("tr")) }),
          G.el("button", { type: "button", class: "secondary", text: m.is_active ? "Disable" : "Enable", "aria-label": (m.is_active ? "Disable " : "Enable ") + m.name,
            onclick: () => patchModel(m.name, { is_active: !m.is_active }) }),
          G.el("button", { type: "button", class: "secondary", text: "Endpoints", "aria-label": "Endpoints of " + m.name, onclick: () => openEndpoints(m.name) }))),
        "No models yet. Add one above.");
    });
  }

  // editRow shows an inline form under row with one input per field.
  function editRow(row, fields, values, label, save) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("edit-row")) { next.remove(); return; }
    const cols = row.children.length;
    const form = G.el("form", { class: "inline-form", "aria-label": label });
    for (const [k, title] of fields) {
      const id = "edit-" + k;
      form.append(G.el("label", { for: id, text: title }), G.el("input", { id, name: k, value: String(values[k]), inputmode: "decimal", required: true }));
    }
    form.append(G.el("button", { type: "submit", text: "Save" }),
      G.el("button", { type: "button", class: "link", text: "Cancel", onclick: () => tr.remove() }));
    const tr = G.el("tr", { class: "edit-row" }, G.el("td", { colspan: cols }, form));
    form.addEventListener("submit", (e) => { e.preventDefault(); save(G.formJSON(form)); });
    row.after(tr);
    form.querySelector("input").focus();
  }

  function editModel(m, row) {
    editRow(row, priceFields, m, "Edit " + m.name, (f) => {
      const body = {};
      for (const [k, , type] of priceFields) body[k] = type === "int" ? Number(f[k]) : f[k];
      patchModel(m.name, body);
    });
  }

  async function patchModel(name, body) {
    const ok = await G.guard("Saving " + name, () => G.api("PATCH", "/admin/api/models/" + encodeURIComponent(name), body));
    if (ok) { await load(); G.status("Model " + name + " saved.", "ok"); }
  }

  async function openEndpoints(name) {
    current = name;
    $("endpoints-panel").hidden = false;
    $("endpoints-title").textContent = "Endpoints of " + name;
    await loadEndpoints();
    $("endpoints-panel").scrollIntoView({ block: "start" });
  }

  async function loadEndpoints() {
    const tb = $("endpoints-table").tBodies[0];
    G.loading(tb);
    await G.guard("Loading endpoints", async () => {
      const eps = (await G.api("GET", "/admin/api/models/" + encodeURIComponent(current) + "/endpoints?limit=1000")).data;
      G.fill(tb, eps, (p) => G.el("tr", { dataset: { endpoint: String(p.id) } },
        G.el("th", { scope: "row", text: String(p.id) }), G.td(p.provider), G.td(p.base_url || "—"), G.td(p.upstream_model),
        G.td(G.int(p.weight), "num"), G.td(String(p.priority), "num"), G.td(p.rpm_limit ? G.int(p.rpm_limit) : "—", "num"), G.td(p.tpm_limit ? G.int(p.tpm_limit) : "—", "num"),
        G.badge(p.is_active, "enabled", "disabled"),
        G.el("td", { class: "actions" },
          G.el("button", { type: "button", class: "secondary", text: "Edit", "aria-label": "Edit endpoint " + p.id,
            onclick: (e) => editRow(e.target.closest("tr"), limitFields, p, "Edit endpoint " + p.id, (f) => {
              const body = {};
              for (const [k] of limitFields) body[k] = Number(f[k]);
              patchEndpoint(p.id, body);
            }) }),
          G.el("button", { type: "button", class: "secondary", text: p.is_active ? "Disable" : "Enable", "aria-label": (p.is_active ? "Disable" : "Enable") + " endpoint " + p.id,
            onclick: () => patchEndpoint(p.id, { is_active: !p.is_active }) }))),
        "This model has no endpoints: requests to it fail until one is added.");
    });
  }

  async function patchEndpoint(id, body) {
    const ok = await G.guard("Saving endpoint " + id, () => G.api("PATCH", "/admin/api/endpoints/" + id, body));
    if (ok) { await loadEndpoints(); G.status("Endpoint " + id + " saved.", "ok"); }
  }

  $("model-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = G.formJSON(e.target);
    f.context_window = Number(f.context_window);
    f.max_output_tokens = Number(f.max_output_tokens);
    const m = await G.guard("Adding " + f.name, () => G.api("POST", "/admin/api/models", f));
    if (m) { e.target.reset(); await load(); G.status("Model " + m.name + " added.", "ok"); }
  });
  $("endpoint-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = G.formJSON(e.target);
    for (const k of ["weight", "priority", "rpm_limit", "tpm_limit"]) f[k] = Number(f[k]);
    if (!f.base_url) delete f.base_url;
    if (!f.api_key) delete f.api_key;
    const p = await G.guard("Adding endpoint", () => G.api("POST", "/admin/api/models/" + encodeURIComponent(current) + "/endpoints", f));
    if (p) { e.target.reset(); await loadEndpoints(); G.status("Endpoint " + p.id + " added.", "ok"); }
  });
  load();
})();
