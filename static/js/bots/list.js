/* The bots page (/bots): the workspace's bots with their latest run's state and PnL, kept live
   by the workspace's stream (/ws/v1/bots?workspace=…) and read again over REST on every
   (re)connection or gap; the new-bot form with field errors by pointer; stop-all with a
   confirmation dialog. */
(function () {
  "use strict";

  const root = document.getElementById("bots-page");
  if (!root) return;
  const T = JSON.parse(document.getElementById("bots-texts").textContent);
  const el = BM.el;
  const canWrite = root.dataset.canWrite === "1";
  const workspaceId = root.dataset.workspaceId;
  const ACTIVE = ["QUEUED", "STARTING", "RUNNING", "STOPPING"];

  const table = document.getElementById("bots-table");
  const stateBox = document.getElementById("bots-state");
  const bots = new Map();         // bot id → the API's bot, its last_run kept up to date live
  const connections = new Map();  // connection id → name

  /* ------------------------------------------------------------------ rendering */

  function stateBadge(run) {
    if (!run) return BM.badge("state-none", T.idle);
    const label = T.states[run.state] || run.state;
    const badge = BM.badge("state-" + run.state, label);
    if (run.error_code) badge.title = run.error_code;
    return badge;
  }

  function pnl(run) {
    if (!run) return null;
    return Number(run.realized_pnl) + Number(run.unrealized_pnl);
  }

  function money(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    return value.toFixed(2);
  }

  function row(bot) {
    const run = bot.last_run;
    const total = pnl(run);
    const strategy = bot.strategy;
    const cells = [
      el("td", {}, [el("a", { href: "/bots/" + bot.id, text: bot.name })]),
      el("td", { text: strategy.name + " · v" + strategy.version + " (" + strategy.symbol + " " + strategy.timeframe + ")" }),
      el("td", { text: connections.get(bot.exchange_connection) || "—" }),
      el("td", { text: T.modeFor[bot.execution.mode] || bot.execution.mode }),
      el("td", { class: "state" }, [stateBadge(run)]),
      el("td", { class: "num position", text: run ? run.position : "—" }),
      el("td", { class: "num pnl " + (total === null ? "" : BM.signClass(total)), text: money(total) }),
      el("td", { text: run ? BM.time(run.started_at) : "—" }),
      el("td", {}, [el("a", { href: "/bots/" + bot.id, text: T.open })]),
    ];
    const tr = el("tr", { "data-id": bot.id, "data-state": run ? run.state : "" }, cells);
    return tr;
  }

  function render() {
    const rows = Array.from(bots.values()).map(row);
    BM.showTable(table, stateBox, rows, T.noBots);
  }

  /* ------------------------------------------------------------------ REST: the record */

  async function loadConnections() {
    const items = await BM.fetchAll("/api/v1/exchange-connections?page_size=500");
    items.forEach(function (c) { connections.set(c.id, c.name); });
  }

  async function sync() {
    try {
      const items = await BM.fetchAll("/api/v1/bots?page_size=500");
      const before = new Map(bots);
      bots.clear();
      items.forEach(function (bot) {
        // A push that arrived while this read was on its way may be newer than what it read.
        const known = before.get(bot.id);
        if (known && known.last_run && bot.last_run && known.last_run.id === bot.last_run.id &&
            Date.parse(known.last_run.updated_at) > Date.parse(bot.last_run.updated_at)) {
          bot.last_run = known.last_run;
          bot.active_run = known.active_run;
        }
        bots.set(bot.id, bot);
      });
      render();
    } catch (err) {
      table.hidden = true;
      BM.state(stateBox, "error", T.error + " " + err.message);
      throw err;
    }
  }

  /* A tick that decides nothing moves a run's mark but pushes nothing: while a bot runs, read
     the list again once a minute, a few seconds after each 1m close (the shortest timeframe). */
  const MINUTE = 60000;
  function scheduleMinuteRead() {
    setTimeout(function () {
      const running = Array.from(bots.values()).some(function (b) { return b.last_run && b.last_run.state === "RUNNING"; });
      (running ? sync() : Promise.resolve()).catch(function () {}).then(scheduleMinuteRead);
    }, MINUTE - (Date.now() % MINUTE) + 5000);
  }

  /* ------------------------------------------------------------------ the stream: hints */

  function newer(a, b) {
    // The run as pushed is applied unless the REST read already showed a later state of it.
    return !b || b.id !== a.id || Date.parse(a.updated_at) >= Date.parse(b.updated_at);
  }

  function onMessage(msg) {
    if (msg.type !== "run.changed") return;
    const run = msg.run;
    const bot = bots.get(run.bot);
    if (!bot) { sync(); return; }  // a bot created elsewhere: read the list again
    const current = bot.last_run;
    // Only a bot's newest run can be active: news of another run that has ended is late news
    // of an earlier run.
    if (current && current.id !== run.id && ACTIVE.indexOf(run.state) < 0) return;
    if (!newer(run, current)) return;
    bot.last_run = Object.assign({}, current && current.id === run.id ? current : {}, run);
    bot.active_run = ACTIVE.indexOf(run.state) >= 0 ? { id: run.id, state: run.state } : null;
    const old = table.querySelector('tr[data-id="' + bot.id + '"]');
    if (old) old.replaceWith(row(bot)); else render();
  }

  const status = document.getElementById("live-status");
  function startStream() {
    BM.live.open("/ws/v1/bots?workspace=" + encodeURIComponent(workspaceId), {
      sync: sync,
      message: onMessage,
      status: function (name) { BM.live.showStatus(status, T, name); },
    });
  }

  /* ------------------------------------------------------------------ the new-bot form */

  const form = document.getElementById("bot-form");

  function body() {
    const data = {
      name: form.elements.name.value.trim(),
      strategy_version: form.elements.strategy_version.value,
      exchange_connection: form.elements.exchange_connection.value,
      risk: {},
      execution: {},
      close_on_stop: document.getElementById("bot-close-on-stop").checked,
    };
    form.querySelectorAll("[data-group]").forEach(function (input) {
      let value = input.value.trim();
      // Integers go as JSON numbers; anything else is sent as typed, for the server to point at.
      if (input.dataset.integer && /^-?\d+$/.test(value)) value = Number(value);
      if (value !== "") data[input.dataset.group][input.dataset.key] = value;
    });
    return data;
  }

  function pickMode() {
    const option = form.elements.exchange_connection.selectedOptions[0];
    if (option && option.dataset.mode) document.getElementById("bot-mode").value = option.dataset.mode;
  }

  if (form) {
    form.elements.exchange_connection.addEventListener("change", pickMode);
    pickMode();
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = document.getElementById("bot-submit");
      if (button.disabled) return;
      button.disabled = true;
      BM.clearProblem(form);
      try {
        const bot = await BM.api("POST", "/api/v1/bots", body());
        window.location.assign("/bots/" + bot.id);
      } catch (err) {
        BM.showProblem(form, err);
        button.disabled = false;
      }
    });
  }

  /* ------------------------------------------------------------------ stop all */

  const dialog = document.getElementById("stop-all-dialog");
  if (canWrite && dialog) {
    const count = document.getElementById("stop-all-count");
    const result = document.getElementById("stop-all-result");
    const confirm = document.getElementById("stop-all-confirm");

    document.getElementById("stop-all-button").addEventListener("click", function () {
      const active = Array.from(bots.values()).filter(function (b) { return b.active_run; });
      count.textContent = active.length ? T.stopAllCount + " " + active.length : T.stopAllNone;
      result.replaceChildren();
      confirm.disabled = false;
      confirm.hidden = false;
      dialog.showModal();
    });

    confirm.addEventListener("click", async function () {
      confirm.disabled = true;
      result.replaceChildren();
      try {
        const answer = await BM.api("POST", "/api/v1/runs/stop-all");
        const lines = [el("p", { class: "alert ok", text: T.stopAllDone + " " + answer.stopped.length })];
        if (answer.errors.length) {
          lines.push(el("p", { class: "alert error", text: T.stopAllFailed + " " + answer.errors.map(function (e) { return e.error; }).join("; ") }));
        }
        result.replaceChildren.apply(result, lines);
        confirm.hidden = true;
        sync();
      } catch (err) {
        result.replaceChildren(el("p", { class: "alert error", text: err.message }));
        confirm.disabled = false;
      }
    });
  }

  /* ------------------------------------------------------------------ start */

  loadConnections()
    .catch(function () { /* names are a nicety: the table shows "—" without them */ })
    .then(startStream);
  scheduleMinuteRead();
})();
