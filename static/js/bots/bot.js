/* A bot's page (/bots/<id>): start and stop, the shown run's live state, position and PnL, the
   candle chart with the strategy's indicators (computed by the server's strategy engine) and
   the run's fills as markers, its equity, the event log and the run history.

   The shown run is ?run=<id> or the bot's latest run. Its stream (/ws/v1/runs/<id>) pushes
   every change with the event that came with it; on every (re)connection or gap the page reads
   the REST API again (BM.live), and an event trail with a hole is filled from
   GET /runs/<id>/events?after=<seq>. */
(function () {
  "use strict";

  const root = document.getElementById("bot-page");
  if (!root) return;
  const T = JSON.parse(document.getElementById("bots-texts").textContent);
  const el = BM.el;
  const botId = root.dataset.botId;
  const canWrite = root.dataset.canWrite === "1";
  const ACTIVE = ["QUEUED", "STARTING", "RUNNING", "STOPPING"];
  const CANDLES = 300;
  const PANE_COLORS = ["#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

  const S = {
    bot: null,
    run: null,              // the shown run as the API renders it, updated by pushes
    activeRunId: null,      // the bot's unfinished run, if any
    events: new Map(),      // seq → event of the shown run
    lastSeq: 0,
    runs: [],
    stream: null,
    lastCandle: undefined,  // the shown run's last_candle_ts the chart was drawn for
    generation: 0,          // bumps when the shown run changes: late answers are dropped
  };

  const $ = function (id) { return document.getElementById(id); };

  function isActive(run) { return !!run && ACTIVE.indexOf(run.state) >= 0; }

  function stateLabel(state) { return T.states[state] || state || "—"; }

  function money(value) {
    if (value === null || value === undefined || value === "") return "—";
    const n = Number(value);
    return Number.isNaN(n) ? String(value) : n.toFixed(2);
  }

  function setMoney(id, value) {
    const node = $(id);
    node.textContent = money(value);
    node.className = "value " + BM.signClass(value);
  }

  /* ------------------------------------------------------------------ the run's figures */

  function renderRun() {
    const run = S.run;
    const badge = $("run-state");
    badge.className = "badge state-" + (run ? run.state : "none");
    badge.textContent = run ? stateLabel(run.state) : T.idle;
    root.dataset.state = run ? run.state : "";
    $("run-position").textContent = run ? run.position : "—";
    setMoney("run-realized", run ? run.realized_pnl : null);
    setMoney("run-unrealized", run ? run.unrealized_pnl : null);
    $("run-started").textContent = run ? BM.time(run.started_at) : "—";
    $("run-last-candle").textContent = run && run.last_candle_ts ? BM.time(run.last_candle_ts) : "—";
    const error = $("run-error");
    error.hidden = !(run && run.error_code);
    if (run && run.error_code) error.textContent = stateLabel(run.state) + ": " + run.error_code;
    const shown = $("run-shown");
    shown.hidden = !run;
    if (run) $("run-shown-time").textContent = BM.time(run.started_at || run.created_at);
    renderButtons();
  }

  function renderButtons() {
    if (!canWrite) return;
    $("start-button").disabled = !!S.activeRunId;
    const stoppable = S.run && S.run.id === S.activeRunId && S.run.state !== "STOPPING";
    $("stop-button").disabled = !stoppable;
  }

  /* A tick that decides nothing (flat, no signal) moves the book's mark and the last candle but
     pushes nothing: while the run is RUNNING, read it once per candle, a few seconds after the
     close (when the tick has run). */
  let candleTimer = null;
  function scheduleCandleRead() {
    clearTimeout(candleTimer);
    const run = S.run;
    const span = run && run.strategy && BM.config.timeframes[run.strategy.timeframe];
    if (!run || run.state !== "RUNNING" || !span) return;
    const generation = S.generation;
    const wait = span - (Date.now() % span) + 5000;
    candleTimer = setTimeout(async function () {
      if (generation !== S.generation) return;
      try { applyRun(await BM.api("GET", "/api/v1/runs/" + run.id)); } catch (err) { /* the next candle tries again */ }
      scheduleCandleRead();
    }, wait);
  }

  function applyRun(run) {
    if (!S.run || S.run.id !== run.id) return;
    if (S.run.updated_at && Date.parse(run.updated_at) < Date.parse(S.run.updated_at)) return;  // stale
    Object.assign(S.run, run);
    if (isActive(S.run)) S.activeRunId = S.run.id;
    else if (S.activeRunId === S.run.id) S.activeRunId = null;
    renderRun();
    scheduleCandleRead();
    const listed = S.runs.find(function (r) { return r.id === run.id; });
    if (listed) {
      Object.assign(listed, run);
      renderRuns();
    }
    if (S.run.last_candle_ts !== S.lastCandle) refreshCharts();
  }

  /* ------------------------------------------------------------------ the event log */

  function sideLabel(side) { return side === "sell" ? T.sell : T.buy; }

  function reasonLabel(reason) { return (T.reasons && T.reasons[reason]) || reason || ""; }

  function describe(event) {
    const d = event.data || {};
    switch (event.kind) {
      case "transition": {
        const to = stateLabel(event.to_state);
        const move = event.from_state ? stateLabel(event.from_state) + " → " + to : to;
        return event.error_code ? move + " · " + event.error_code : move;
      }
      case "signal":
        return [d.entry ? T.entrySignal : null, d.exit ? T.exitSignal : null].filter(Boolean).join(", ") +
          (d.close !== undefined ? " · " + d.close : "");
      case "order": {
        const parts = [sideLabel(d.side), d.amount, (T.orderTypes && T.orderTypes[d.type]) || d.type];
        if (d.price) parts.push(T.at + " " + d.price);
        if (event.error_code) parts.push("· " + event.error_code);
        return parts.filter(Boolean).join(" ");
      }
      case "fill": {
        let text = (d.side === "sell" ? T.sold : T.bought) + " " + (d.amount || "") + " " + T.at + " " + d.price;
        if (d.trade && d.trade.pnl !== undefined) text += " · PnL " + d.trade.pnl + " (" + reasonLabel(d.trade.exit_reason) + ")";
        return text;
      }
      case "exit":
        return T.exit + ": " + reasonLabel(d.reason);
      case "skip":
        return reasonLabel(d.reason) || event.message;
      case "guard":
        return event.error_code || event.message;
      default:
        return event.message;
    }
  }

  function eventRow(event) {
    const detail = el("td", { class: "detail" }, [el("span", { text: describe(event) })]);
    if (event.message && (event.error_code || event.kind === "guard")) {
      detail.append(el("span", { class: "muted small block", text: event.message }));
    }
    return el("tr", { "data-seq": String(event.seq), "data-kind": event.kind, title: event.message || "" }, [
      el("td", { class: "num", text: String(event.seq) }),
      el("td", { text: BM.time(event.created_at) }),
      el("td", {}, [BM.badge("kind-" + event.kind, T.kinds[event.kind] || event.kind)]),
      detail,
    ]);
  }

  function renderEvents() {
    const rows = Array.from(S.events.values())
      .sort(function (a, b) { return b.seq - a.seq; })
      .map(eventRow);
    BM.showTable($("events-table"), $("events-state"), rows, T.noEvents);
  }

  function addEvents(events) {
    events.forEach(function (event) {
      S.events.set(event.seq, event);
      if (event.seq > S.lastSeq) S.lastSeq = event.seq;
    });
    renderEvents();
  }

  async function loadEventsAfter(runId, generation) {
    const events = await BM.fetchAll("/api/v1/runs/" + runId + "/events?page_size=500&after=" + S.lastSeq);
    if (generation !== S.generation) return;
    addEvents(events);
  }

  /* ------------------------------------------------------------------ run history */

  function runRow(run) {
    const total = Number(run.realized_pnl) + Number(run.unrealized_pnl);
    const shown = S.run && S.run.id === run.id;
    const action = shown
      ? el("span", { class: "muted", text: T.viewing })
      : el("a", { href: "?run=" + run.id, text: T.view, "data-run": run.id });
    return el("tr", { "data-id": run.id, "data-state": run.state, class: shown ? "shown" : "" }, [
      el("td", { text: BM.time(run.started_at || run.created_at) }),
      el("td", { text: BM.time(run.ended_at) }),
      el("td", {}, [BM.badge("state-" + run.state, stateLabel(run.state))]),
      el("td", { class: "num " + BM.signClass(total), text: money(total) }),
      el("td", {}, [action]),
    ]);
  }

  function renderRuns() {
    BM.showTable($("runs-table"), $("runs-state"), S.runs.map(runRow), T.noRuns);
  }

  async function loadRuns() {
    const page = await BM.api("GET", "/api/v1/bots/" + botId + "/runs?page_size=100");
    S.runs = page.results;
    renderRuns();
  }

  $("runs-table").addEventListener("click", function (event) {
    const link = event.target.closest("a[data-run]");
    if (!link) return;
    event.preventDefault();
    showRun(link.dataset.run);
  });

  /* ------------------------------------------------------------------ charts */

  let priceChart = null, candleSeries = null, markerPlugin = null, lineSeries = {}, chartKey = null;
  let equityChart = null, equitySeries = null;
  let chartTimer = null;

  function refreshCharts() {
    // Ticks come in bursts of events: draw once per burst.
    clearTimeout(chartTimer);
    chartTimer = setTimeout(function () { loadChart(); loadEquity(); }, 300);
  }

  function seconds(ts) { return Math.floor(ts / 1000); }

  function markerOf(m) {
    const buy = m.side === "buy";
    return {
      time: seconds(m.ts),
      position: buy ? "belowBar" : "aboveBar",
      shape: buy ? "arrowUp" : "arrowDown",
      color: buy ? "#15803d" : "#b91c1c",
      text: buy ? T.entry : T.exit + (m.reason && m.reason !== "exit" ? " · " + reasonLabel(m.reason) : ""),
    };
  }

  function drawChart(data, key) {
    const box = $("price-chart");
    if (chartKey !== key) {
      if (priceChart) priceChart.remove();
      box.hidden = false;
      priceChart = LightweightCharts.createChart(box, BM.chartOptions());
      candleSeries = priceChart.addSeries(LightweightCharts.CandlestickSeries, {
        upColor: "#15803d", downColor: "#b91c1c", borderVisible: false,
        wickUpColor: "#15803d", wickDownColor: "#b91c1c",
      });
      markerPlugin = LightweightCharts.createSeriesMarkers(candleSeries, []);
      lineSeries = {};
      const panes = ["price"];
      data.indicators.forEach(function (item, i) {
        if (panes.indexOf(item.pane) < 0) panes.push(item.pane);
        lineSeries[item.key] = priceChart.addSeries(LightweightCharts.LineSeries, {
          color: PANE_COLORS[i % PANE_COLORS.length], lineWidth: 1, title: item.key,
          priceLineVisible: false, lastValueVisible: false,
        }, panes.indexOf(item.pane));
      });
      chartKey = key;
      const names = data.indicators.map(function (item) { return item.key; });
      $("chart-legend").textContent = [data.symbol + " " + data.timeframe].concat(names.length ? [names.join(", ")] : []).join(" · ");
    }
    candleSeries.setData(data.candles.map(function (c) {
      return { time: seconds(c.ts), open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) };
    }));
    data.indicators.forEach(function (item) {
      const series = lineSeries[item.key];
      if (!series) return;
      const points = [];
      item.values.forEach(function (value, i) {
        if (value !== null) points.push({ time: seconds(data.candles[i].ts), value: value });
      });
      series.setData(points);
    });
    markerPlugin.setMarkers(data.markers.map(markerOf));
    root.dataset.markers = String(data.markers.length);
  }

  async function loadChart() {
    const generation = S.generation;
    const run = S.run;
    const url = run ? "/api/v1/runs/" + run.id + "/chart" : "/api/v1/bots/" + botId + "/chart";
    const stateBox = $("chart-state");
    try {
      const data = await BM.api("GET", url + "?limit=" + CANDLES);
      if (generation !== S.generation) return;
      S.lastCandle = run ? run.last_candle_ts : null;
      if (!data.candles.length) {
        $("price-chart").hidden = true;
        BM.state(stateBox, "empty", T.noChart);
        return;
      }
      stateBox.replaceChildren();
      drawChart(data, run ? run.id : "bot");
    } catch (err) {
      if (generation !== S.generation) return;
      BM.state(stateBox, "error", T.noChart + " " + err.message);
    }
  }

  async function loadEquity() {
    const generation = S.generation;
    const stateBox = $("equity-state");
    const box = $("equity-chart");
    if (!S.run) {
      box.hidden = true;
      BM.state(stateBox, "empty", T.noEquity);
      return;
    }
    try {
      const points = await BM.api("GET", "/api/v1/runs/" + S.run.id + "/equity");
      if (generation !== S.generation) return;
      if (!points.length) {
        box.hidden = true;
        BM.state(stateBox, "empty", T.noEquity);
        return;
      }
      stateBox.replaceChildren();
      box.hidden = false;
      if (!equityChart) {
        equityChart = LightweightCharts.createChart(box, BM.chartOptions());
        equitySeries = equityChart.addSeries(LightweightCharts.LineSeries, { color: "#2563eb", lineWidth: 2, title: T.equity });
      }
      equitySeries.setData(points.map(function (p) { return { time: seconds(p.ts), value: Number(p.equity) }; }));
    } catch (err) {
      if (generation !== S.generation) return;
      BM.state(stateBox, "error", T.error + " " + err.message);
    }
  }

  /* ------------------------------------------------------------------ the stream */

  async function syncRun(runId, generation) {
    const [run] = await Promise.all([
      BM.api("GET", "/api/v1/runs/" + runId),
      loadEventsAfter(runId, generation),
      loadRuns(),
    ]);
    if (generation !== S.generation) return;
    if (run.bot !== botId) {  // ?run= of another bot: show this bot's latest run instead
      showRun(S.bot.last_run ? S.bot.last_run.id : null);
      return;
    }
    S.run = run;
    if (isActive(run)) S.activeRunId = run.id;
    else if (S.activeRunId === run.id) S.activeRunId = null;
    renderRun();
    renderRuns();
    scheduleCandleRead();
    if (run.last_candle_ts !== S.lastCandle || !priceChart) refreshCharts();
  }

  function onMessage(runId, generation, msg) {
    if (generation !== S.generation || msg.type !== "run.changed" || msg.run.id !== runId) return;
    const event = msg.event;
    applyRun(msg.run);
    if (event && !S.events.has(event.seq)) {
      if (event.seq > S.lastSeq + 1) {
        // A hole in the trail (events announced out of order, or lost): fill it from the API.
        loadEventsAfter(runId, generation).catch(function () { addEvents([event]); });
      } else {
        addEvents([event]);
      }
      if (event.kind === "fill") refreshCharts();
      if (event.kind === "transition" && ACTIVE.indexOf(event.to_state) < 0) loadRuns().catch(function () {});
    }
  }

  function showRun(runId) {
    if (S.stream) S.stream.close();
    S.stream = null;
    S.generation += 1;
    const generation = S.generation;
    S.events = new Map();
    S.lastSeq = 0;
    S.lastCandle = undefined;
    chartKey = null;
    const url = new URL(window.location.href);
    if (runId) url.searchParams.set("run", runId); else url.searchParams.delete("run");
    window.history.replaceState(null, "", url.toString());
    if (!runId) {
      S.run = null;
      renderRun();
      renderEvents();
      loadRuns().catch(function (err) { BM.state($("runs-state"), "error", T.error + " " + err.message); });
      loadChart();
      loadEquity();
      return;
    }
    S.run = { id: runId };
    const status = $("live-status");
    S.stream = BM.live.open("/ws/v1/runs/" + runId, {
      sync: function () {
        return syncRun(runId, generation).catch(function (err) {
          if (generation === S.generation) BM.state($("events-state"), "error", T.error + " " + err.message);
          throw err;
        });
      },
      message: function (msg) { onMessage(runId, generation, msg); },
      status: function (name) { if (generation === S.generation) BM.live.showStatus(status, T, name); },
    });
  }

  /* ------------------------------------------------------------------ start and stop */

  function actionError(err) {
    const box = $("action-error");
    box.hidden = !err;
    box.textContent = err ? err.message : "";
  }

  if (canWrite) {
    $("start-button").addEventListener("click", async function () {
      const button = this;
      button.disabled = true;
      actionError(null);
      try {
        const run = await BM.api("POST", "/api/v1/bots/" + botId + "/runs");
        S.activeRunId = run.id;
        showRun(run.id);
      } catch (err) {
        actionError(err);
        renderButtons();
      }
    });
    $("stop-button").addEventListener("click", async function () {
      const button = this;
      button.disabled = true;
      actionError(null);
      try {
        applyRun(await BM.api("POST", "/api/v1/runs/" + S.run.id + "/stop"));
      } catch (err) {
        actionError(err);
        renderButtons();
      }
    });
  }

  /* ------------------------------------------------------------------ start */

  async function start() {
    try {
      S.bot = await BM.api("GET", "/api/v1/bots/" + botId);
    } catch (err) {
      BM.state($("events-state"), "error", T.error + " " + err.message);
      return;
    }
    S.activeRunId = S.bot.active_run ? S.bot.active_run.id : null;
    const wanted = new URL(window.location.href).searchParams.get("run") || "";
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    showRun(uuid.test(wanted) ? wanted : (S.bot.last_run ? S.bot.last_run.id : null));
  }

  // What the page shows, for scripts that add to it (the replay action).
  BM.botPage = {
    botId: botId,
    run: function () { return S.run; },
    refreshCharts: refreshCharts,
  };

  start();
})();
