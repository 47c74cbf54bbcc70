/* The replay block of a bot's page (templates/bots/_replay.html): replay the bot over a lab
   dataset (POST /api/v1/bots/<id>/replays), follow it while a lab worker ticks the candles
   (GET /api/v1/replays/<id>, its progress), and show its result as a backtest shows one: the
   metric cards and the trades (GET /api/v1/replays/<id>/trades, a page at a time). The bot's
   earlier replays can be picked from a list. */
(function () {
  "use strict";

  const root = document.getElementById("replay");
  if (!root) return;
  const T = JSON.parse(document.getElementById("replay-texts").textContent);
  const el = BM.el;
  const botId = root.dataset.botId;
  const POLL_MS = 1000;
  const $ = function (id) { return document.getElementById(id); };

  const S = { replays: [], shown: null, page: 1, pages: 1, timer: null, generation: 0 };

  function fmtNum(value, digits) {
    if (value === null || value === undefined || value === "") return "—";
    return Number(value).toLocaleString(undefined, {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    });
  }

  function finished(replay) { return replay.status === "succeeded" || replay.status === "failed"; }

  function label(replay) {
    return BM.time(replay.created_at) + " · " + replay.dataset_name + " · " +
      (T.statuses[replay.status] || replay.status);
  }

  /* ------------------------------------------------------------------ the list */

  function renderPick() {
    const pick = $("replay-pick");
    pick.replaceChildren.apply(pick, S.replays.map(function (replay) {
      const option = el("option", { value: replay.id, text: label(replay) });
      if (S.shown && replay.id === S.shown.id) option.selected = true;
      return option;
    }));
  }

  async function loadList() {
    try {
      const page = await BM.api("GET", "/api/v1/bots/" + botId + "/replays?page_size=20");
      S.replays = page.results;
      if (!S.replays.length) {
        BM.state($("replay-state"), "empty", T.noReplays);
        return;
      }
      $("replay-state").replaceChildren();
      show(S.replays[0]);
    } catch (err) {
      BM.state($("replay-state"), "alert error", T.error + " " + err.message);
    }
  }

  /* ------------------------------------------------------------------ one replay */

  function renderMetrics(replay) {
    const m = replay.metrics || {};
    const values = {
      net_pnl: [fmtNum(m.net_pnl, 2), BM.signClass(m.net_pnl)],
      net_pnl_pct: [fmtNum(m.net_pnl_pct, 2), BM.signClass(m.net_pnl_pct)],
      win_rate: [fmtNum(m.win_rate, 2), ""],
      max_drawdown_pct: [fmtNum(m.max_drawdown_pct, 2), ""],
      trades: [m.trades === undefined ? "—" : String(m.trades), ""],
      profit_factor: [fmtNum(m.profit_factor, 2), ""],
      sharpe: [fmtNum(m.sharpe, 2), ""],
      exposure_pct: [fmtNum(m.exposure_pct, 2), ""],
      final_equity: [fmtNum(replay.final_equity, 2), ""],
      rejected_orders: [String(replay.rejected_orders), ""],
    };
    root.querySelectorAll("[data-replay-metric]").forEach(function (card) {
      const value = values[card.dataset.replayMetric];
      const strong = card.querySelector(".value");
      strong.textContent = value[0];
      strong.className = "value " + value[1];
    });
    $("replay-metrics").hidden = false;
    const open = $("replay-open-position");
    const p = replay.open_position;
    open.hidden = !p;
    if (p) {
      open.textContent = T.openPosition + ": " + p.amount + " @ " + fmtNum(p.entry_price, 2) +
        " → " + fmtNum(p.mark_price, 2) + " (" + fmtNum(p.unrealized_pnl, 2) + ")";
    }
  }

  function render(replay) {
    S.shown = replay;
    $("replay-result").hidden = false;
    const status = $("replay-status");
    status.className = "badge " + replay.status;
    status.textContent = T.statuses[replay.status] || replay.status;
    $("replay-about").textContent = replay.dataset_name + " · " + replay.initial_cash + " " +
      replay.strategy.symbol.split("/")[1] + " · " + replay.fee_bps + " / " + replay.slippage_bps + " bps";
    const running = !finished(replay);
    $("replay-progress").hidden = !running;
    $("replay-progress-bar").style.width = (replay.progress || 0) + "%";
    $("replay-progress-bar").setAttribute("aria-label", T.progress + " " + (replay.progress || 0) + "%");
    const error = $("replay-error");
    error.hidden = replay.status !== "failed";
    if (replay.status === "failed") error.textContent = replay.error;
    if (replay.status === "succeeded") {
      renderMetrics(replay);
    } else {
      $("replay-metrics").hidden = true;
      $("replay-open-position").hidden = true;
      $("replay-trades").hidden = true;
      $("replay-pager").hidden = true;
      $("replay-trades-state").replaceChildren();
    }
    S.replays = S.replays.map(function (r) { return r.id === replay.id ? replay : r; });
    renderPick();
  }

  async function loadTrades(page) {
    const replay = S.shown;
    const generation = S.generation;
    const stateBox = $("replay-trades-state");
    BM.state(stateBox, "loading", T.progress);
    try {
      const data = await BM.api("GET", "/api/v1/replays/" + replay.id + "/trades?page=" + page);
      if (generation !== S.generation) return;  // another replay is shown meanwhile
      S.page = page;
      S.pages = Math.max(1, Math.ceil(data.count / 50));
      const rows = data.results.map(function (t) {
        return el("tr", {}, [
          el("td", { class: "num", text: String(t.seq) }),
          el("td", { text: BM.time(t.entry_time) }),
          el("td", { text: BM.time(t.exit_time) }),
          el("td", { class: "num", text: t.entry_price }),
          el("td", { class: "num", text: t.exit_price }),
          el("td", { class: "num", text: t.amount }),
          el("td", { class: "num", text: fmtNum(t.fees, 2) }),
          el("td", { class: "num " + BM.signClass(t.pnl), text: fmtNum(t.pnl, 2) }),
          el("td", { class: "num " + BM.signClass(t.pnl_pct), text: fmtNum(t.pnl_pct, 2) }),
          el("td", { text: T.reasons[t.exit_reason] || t.exit_reason }),
        ]);
      });
      BM.showTable($("replay-trades"), stateBox, rows, T.noTrades);
      $("replay-pager").hidden = data.count <= data.results.length && page === 1;
      $("replay-page").textContent = T.page + " " + page + " " + T.of + " " + S.pages;
      $("replay-prev").disabled = !data.previous;
      $("replay-next").disabled = !data.next;
    } catch (err) {
      BM.state(stateBox, "alert error", T.error + " " + err.message);
    }
  }

  /* A replay that is not finished is read again every second until it is. */
  async function follow(id, generation) {
    try {
      const replay = await BM.api("GET", "/api/v1/replays/" + id);
      if (generation !== S.generation) return;
      render(replay);
      if (finished(replay)) {
        if (replay.status === "succeeded") loadTrades(1);
        return;
      }
    } catch (err) {
      if (generation !== S.generation) return;
      BM.state($("replay-state"), "alert error", T.error + " " + err.message);
    }
    S.timer = window.setTimeout(function () { follow(id, generation); }, POLL_MS);
  }

  function show(replay) {
    window.clearTimeout(S.timer);
    S.generation += 1;
    render(replay);
    if (replay.status === "succeeded") loadTrades(1);
    else if (!finished(replay)) follow(replay.id, S.generation);
  }

  /* ------------------------------------------------------------------ the form */

  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const button = $("replay-submit");
    BM.clearProblem(form);
    button.disabled = true;
    try {
      const replay = await BM.api("POST", "/api/v1/bots/" + botId + "/replays", BM.formJson(form));
      S.replays.unshift(replay);
      $("replay-state").replaceChildren();
      show(replay);
    } catch (err) {
      BM.showProblem(form, err);
    } finally {
      button.disabled = false;
    }
  }

  const form = $("replay-form");
  if (form) form.addEventListener("submit", submit);
  $("replay-pick").addEventListener("change", function (event) {
    const replay = S.replays.find(function (r) { return r.id === event.target.value; });
    if (replay) show(replay);
  });
  $("replay-prev").addEventListener("click", function () { if (S.page > 1) loadTrades(S.page - 1); });
  $("replay-next").addEventListener("click", function () { if (S.page < S.pages) loadTrades(S.page + 1); });
  loadList();
})();
