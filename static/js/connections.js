/* The exchange connections page (/connections): the workspace's connections with their status,
   a connection test per row, delete, and the form that creates one (credentials only for a real
   exchange; the page forgets them once the server has them). Everything goes through BM.api. */
(function () {
  "use strict";
  const page = document.getElementById("connections-page");
  if (!page) return;
  const T = JSON.parse(document.getElementById("connections-texts").textContent);
  const API = "/api/v1/exchange-connections";
  const canManage = page.dataset.canManage === "1";
  const canTest = page.dataset.canTest === "1";
  const stateBox = document.getElementById("connections-state");
  const table = document.getElementById("connections-table");
  const body = table.querySelector("tbody");
  const el = BM.el;

  const BADGES = { ok: "ok", failed: "failed", untested: "open" };  // a status's badge colour
  const STATUS_TEXT = { ok: T.statusOk, failed: T.failed, untested: T.untested };

  function when(iso) {
    return iso ? BM.time(iso) : T.never;
  }

  function showResult(cell, ok, text) {
    cell.replaceChildren(el("span", { class: ok ? "alert ok" : "alert error", role: "status", text: text }));
  }

  async function runTest(connection, row) {
    const cell = row.querySelector(".test-result");
    const button = row.querySelector(".test-button");
    button.disabled = true;
    cell.replaceChildren(el("span", { class: "loading", text: T.testing }));
    try {
      const result = await BM.api("POST", API + "/" + connection.id + "/test");
      await load();
      const fresh = body.querySelector('tr[data-id="' + connection.id + '"] .test-result');
      showResult(fresh, true, T.ok + " · " + result.latency_ms + " " + T.ms + " · " + result.message);
    } catch (err) {
      await load();
      const fresh = body.querySelector('tr[data-id="' + connection.id + '"] .test-result');
      showResult(fresh || cell, false, (err.problem && (err.problem.detail || err.problem.title)) || String(err));
    }
  }

  async function remove(connection) {
    if (!window.confirm(T.confirmDelete.replace("%(name)s", connection.name))) return;
    try {
      await BM.api("DELETE", API + "/" + connection.id);
      await load();
    } catch (err) {
      BM.state(stateBox, "alert error", (err.problem && err.problem.detail) || String(err));
    }
  }

  function row(connection) {
    const actions = el("td", { class: "actions" });
    const tr = el("tr", { "data-id": connection.id }, [
      el("td", { text: connection.name }),
      el("td", { text: connection.exchange }),
      el("td", { text: T["mode_" + connection.mode] || connection.mode }),
      el("td", {}, [
        BM.badge(BADGES[connection.status], STATUS_TEXT[connection.status] || connection.status),
        connection.last_error ? el("p", { class: "muted last-error", text: connection.last_error }) : "",
      ]),
      el("td", { class: "key-hint", text: !connection.has_credentials ? T.noCredentials : (connection.api_key_hint ? "…" + connection.api_key_hint : T.credentialsStored) }),
      el("td", { text: when(connection.last_checked_at) + (connection.last_latency_ms !== null ? " · " + connection.last_latency_ms + " " + T.ms : "") }),
      actions,
    ]);
    if (canTest) {
      actions.append(el("button", { type: "button", class: "test-button", text: T.test, onclick: function () { runTest(connection, tr); } }));
    }
    if (canManage) {
      actions.append(" ", el("button", { type: "button", class: "delete-button link", text: T.delete, onclick: function () { remove(connection); } }));
    }
    actions.append(el("div", { class: "test-result" }));
    return tr;
  }

  async function load() {
    let connections;
    try {
      connections = await BM.fetchAll(API + "?page_size=200");
    } catch (err) {
      table.hidden = true;
      BM.state(stateBox, "alert error", T.loadError + " " + ((err.problem && err.problem.detail) || ""));
      return;
    }
    BM.showTable(table, stateBox, connections.map(row), canManage ? T.emptyAdmin : T.empty);
  }

  const form = document.getElementById("connection-form");
  if (form) {
    const exchange = form.querySelector('[name="exchange"]');
    const mode = form.querySelector('[name="mode"]');
    const credentials = document.getElementById("cn-credentials");
    const created = document.getElementById("connection-created");
    function syncMode() {
      const demo = exchange.value.trim() === "demo";
      credentials.hidden = demo;
      if (demo) mode.value = "demo";
      else if (mode.value === "demo") mode.value = "testnet";
    }
    exchange.addEventListener("input", syncMode);
    syncMode();
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      BM.clearProblem(form);
      created.hidden = true;
      const payload = BM.formJson(form);
      const button = document.getElementById("connection-submit");
      button.disabled = true;
      try {
        await BM.api("POST", API, payload);
        form.reset();  // the secrets leave the page as soon as the server has them
        syncMode();
        created.textContent = T.created;
        created.hidden = false;
        await load();
      } catch (err) {
        BM.showProblem(form, err);
      } finally {
        button.disabled = false;
      }
    });
  }

  load();
})();
