/* The terminal page (/terminal): connection and symbol pickers, a ticker polled every 2 s, a
   candlestick chart with volume (lightweight-charts v5), the order form with field errors from
   problem+json pointers, open orders with cancel, order history, positions and balances.
   Everything goes through the REST API with BM.api, as the page's workspace. */
(function () {
  "use strict";

  const root = document.getElementById("terminal-page");
  if (!root) return;
  const T = JSON.parse(document.getElementById("terminal-texts").textContent);
  const canTrade = root.dataset.canTrade === "1";
  const el = BM.el;
  const TICKER_MS = 2000;     // the live ticker; the forming candle follows it
  const CANDLE_EVERY = 5;     // ticks between re-reads of the last two candles (volume, rollover)
  const ACCOUNT_MS = 10000;   // orders, positions, balances (and at once after every action)
  const TIMEFRAME_MS = BM.config.timeframes;  // the server's one list, with each candle's length
  const CANDLES = 300;
  const HISTORY_PAGE = 20;

  const connectionSelect = document.getElementById("connection-select");
  const symbolSelect = document.getElementById("symbol-select");
  const form = document.getElementById("order-form");
  const pressed = document.querySelector('[data-timeframe][aria-pressed="true"]');  // the template's start
  const state = {
    connection: connectionSelect.value,
    symbol: null,
    timeframe: pressed ? pressed.dataset.timeframe : Object.keys(TIMEFRAME_MS)[0],
    instruments: {},
    last: null,
    historyPage: 1,
    tickerTimer: null,
    ticks: 0,
    accountTimer: null,
    generation: 0,   // bumps when connection/symbol/timeframe change: late answers are dropped
  };

  /* ------------------------------------------------------------------ helpers */

  function qs(params) {
    return "?" + new URLSearchParams(params).toString();
  }

  function text(value) {
    return value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function decimals(step) {
    if (!step) return 2;
    const s = String(step);
    const dot = s.indexOf(".");
    return dot < 0 ? 0 : s.length - dot - 1;
  }

  function showError(table, stateBox, err) {
    table.hidden = true;
    BM.state(stateBox, "error", T.error + " " + (err && err.message ? err.message : ""));
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // Plain-HTTP pages outside localhost have no randomUUID: build a v4 UUID from random bytes.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  /* ------------------------------------------------------------------ instruments */

  async function loadInstruments() {
    const generation = ++state.generation;
    symbolSelect.disabled = true;
    symbolSelect.replaceChildren(el("option", { text: T.loading + "…" }));
    try {
      const rows = await BM.api("GET", "/api/v1/terminal/instruments" + qs({ connection: state.connection }));
      if (generation !== state.generation) return;
      state.instruments = {};
      rows.forEach(function (row) { state.instruments[row.symbol] = row; });
      if (rows.length === 0) {
        symbolSelect.replaceChildren(el("option", { text: T.noInstruments }));
        BM.state(document.getElementById("ticker-state"), "empty", T.noInstruments);
        return;
      }
      const wanted = localStorage.getItem("terminal.symbol");
      symbolSelect.replaceChildren.apply(symbolSelect, rows.map(function (row) {
        return el("option", { value: row.symbol, text: row.symbol });
      }));
      symbolSelect.value = state.instruments[wanted] ? wanted : (state.instruments["BTC/USDT"] ? "BTC/USDT" : rows[0].symbol);
      symbolSelect.disabled = false;
      selectSymbol(symbolSelect.value);
    } catch (err) {
      if (generation !== state.generation) return;
      symbolSelect.replaceChildren(el("option", { text: T.error }));
      BM.state(document.getElementById("ticker-state"), "error", T.error + " " + err.message);
    }
  }

  function selectSymbol(symbol) {
    state.symbol = symbol;
    state.last = null;
    state.generation++;
    localStorage.setItem("terminal.symbol", symbol);
    const instrument = state.instruments[symbol];
    if (form) {
      document.getElementById("order-symbol").textContent = symbol;
      document.getElementById("amount-unit").textContent = instrument.base;
      document.getElementById("price-unit").textContent = instrument.quote;
      const amountHint = [];
      if (instrument.amount_step) amountHint.push("× " + instrument.amount_step);
      if (instrument.min_amount) amountHint.push("≥ " + instrument.min_amount);
      if (instrument.min_notional) amountHint.push("≥ " + instrument.min_notional + " " + instrument.quote);
      document.getElementById("amount-hint").textContent = amountHint.join(" · ");
      document.getElementById("price-hint").textContent = instrument.price_step ? "× " + instrument.price_step : "";
      document.getElementById("order-amount").placeholder = instrument.min_amount || "";
      BM.clearProblem(form);
      resetKey();
      updateEstimate();
    }
    resetTicker();
    loadChart();
    restartTimers();
  }

  /* ------------------------------------------------------------------ ticker */

  function resetTicker() {
    ["last", "bid", "ask", "high", "low", "volume"].forEach(function (key) {
      document.getElementById("ticker-" + key).textContent = "—";
    });
    const box = document.getElementById("ticker-state");
    box.className = "loading";
    box.textContent = T.loading;
  }

  async function pollTicker() {
    const generation = state.generation;
    const box = document.getElementById("ticker-state");
    try {
      const t = await BM.api("GET", "/api/v1/terminal/ticker" + qs({ connection: state.connection, symbol: state.symbol }));
      if (generation !== state.generation) return;
      const lastBox = document.getElementById("ticker-last");
      if (state.last !== null && t.last !== state.last) {
        lastBox.className = "big " + (Number(t.last) > Number(state.last) ? "buy" : "sell");
      }
      state.last = t.last;
      // Prices on the instrument's tick (123011 → 123011.00), the volume as the API wrote it.
      const places = decimals((state.instruments[state.symbol] || {}).price_step);
      const price = function (v) { return v === null ? "—" : Number(v).toFixed(places); };
      lastBox.textContent = price(t.last);
      ["bid", "ask", "high", "low"].forEach(function (key) {
        document.getElementById("ticker-" + key).textContent = price(t[key]);
      });
      document.getElementById("ticker-volume").textContent = text(t.volume);
      box.className = "muted small";
      box.textContent = T.updated + " " + BM.time(t.ts);
      updateEstimate();
      applyTicker(t);
    } catch (err) {
      if (generation !== state.generation) return;
      box.className = "error";
      box.textContent = T.tickerError + " " + err.message;
    }
    state.ticks += 1;
    if (generation === state.generation && state.ticks % CANDLE_EVERY === 0) updateForming(generation);
  }

  /* ------------------------------------------------------------------ chart */

  let chart = null, candleSeries = null, volumeSeries = null, lastBar = null;

  function ensureChart() {
    if (chart) return;
    const box = document.getElementById("chart");
    box.hidden = false;
    chart = LightweightCharts.createChart(box, BM.chartOptions());
    candleSeries = chart.addSeries(LightweightCharts.CandlestickSeries, {
      upColor: "#15803d", downColor: "#b91c1c", borderVisible: false,
      wickUpColor: "#15803d", wickDownColor: "#b91c1c",
    });
    volumeSeries = chart.addSeries(LightweightCharts.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false,
    });
    // Volume in the bottom fifth, under the candles.
    volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    candleSeries.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
  }

  function bar(c) {
    return { time: Math.floor(c.ts / 1000), open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) };
  }

  function volumeBar(c) {
    return {
      time: Math.floor(c.ts / 1000), value: Number(c.volume),
      color: Number(c.close) >= Number(c.open) ? "rgba(21,128,61,0.45)" : "rgba(185,28,28,0.45)",
    };
  }

  async function loadChart() {
    const generation = state.generation;
    lastBar = null;
    const stateBox = document.getElementById("chart-state");
    BM.state(stateBox, "loading", T.loading);
    try {
      const rows = await BM.api("GET", "/api/v1/terminal/candles" + qs({
        connection: state.connection, symbol: state.symbol, timeframe: state.timeframe, limit: CANDLES,
      }));
      if (generation !== state.generation) return;
      if (rows.length === 0) {
        BM.state(stateBox, "empty", T.noCandles);
        document.getElementById("chart").hidden = true;
        return;
      }
      stateBox.replaceChildren();
      ensureChart();
      document.getElementById("chart").hidden = false;
      const step = (state.instruments[state.symbol] || {}).price_step;
      candleSeries.applyOptions({ priceFormat: { type: "price", precision: decimals(step), minMove: Number(step) || 0.01 } });
      const bars = rows.map(bar);
      candleSeries.setData(bars);
      volumeSeries.setData(rows.map(volumeBar));
      lastBar = bars[bars.length - 1];
      chart.timeScale().fitContent();
    } catch (err) {
      if (generation !== state.generation) return;
      document.getElementById("chart").hidden = true;
      BM.state(stateBox, "error", T.error + " " + err.message);
    }
  }

  /* The forming candle (and the one just closed) follow the ticker's rhythm. */
  async function updateForming(generation) {
    if (!candleSeries) return;
    try {
      const rows = await BM.api("GET", "/api/v1/terminal/candles" + qs({
        connection: state.connection, symbol: state.symbol, timeframe: state.timeframe, limit: 2,
      }));
      if (generation !== state.generation) return;
      rows.forEach(function (c) {
        if (lastBar && bar(c).time < lastBar.time) return;
        lastBar = bar(c);
        candleSeries.update(lastBar);
        volumeSeries.update(volumeBar(c));
      });
    } catch (err) {
      /* the ticker line already says the venue is not answering */
    }
  }

  /* Between candle reads, the ticker's last price moves the forming candle (or opens the next). */
  function applyTicker(t) {
    if (!candleSeries || !lastBar || t.last === null) return;
    const price = Number(t.last);
    const span = TIMEFRAME_MS[state.timeframe] / 1000;
    const time = Math.floor(t.ts / 1000 / span) * span;
    if (time < lastBar.time) return;
    if (time > lastBar.time) {
      lastBar = { time: time, open: price, high: price, low: price, close: price };
    } else {
      lastBar = {
        time: time, open: lastBar.open, close: price,
        high: Math.max(lastBar.high, price), low: Math.min(lastBar.low, price),
      };
    }
    candleSeries.update(lastBar);
  }

  document.querySelectorAll("[data-timeframe]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-timeframe]").forEach(function (b) {
        b.classList.toggle("active", b === button);
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
      state.timeframe = button.dataset.timeframe;
      state.generation++;
      loadChart();
    });
  });

  /* ------------------------------------------------------------------ orders, positions, balances */

  function orderRow(order, withCancel) {
    const cells = [
      el("td", { text: BM.time(order.created_at) }),
      el("td", { text: order.symbol }),
      el("td", { class: order.side, text: T[order.side] || order.side }),
      el("td", { text: T[order.type] || order.type }),
      el("td", { class: "num", text: order.amount }),
      el("td", { class: "num", text: text(order.price) }),
    ];
    if (withCancel) {
      cells.push(el("td", { class: "num", text: order.filled }));
      cells.push(el("td", {}, [BM.badge(order.status, T[order.status])]));
      const cell = el("td");
      if (canTrade) {
        const button = el("button", { type: "button", class: "link danger-link", text: T.cancel });
        button.addEventListener("click", function () { cancelOrder(order, button); });
        cell.append(button);
      }
      cells.push(cell);
    } else {
      cells.push(el("td", { class: "num", text: text(order.average) }));
      cells.push(el("td", { class: "num", text: order.filled }));
      cells.push(el("td", { class: "num", text: order.fee ? order.fee + " " + order.fee_currency : "—" }));
      cells.push(el("td", {}, [BM.badge(order.status, T[order.status])]));
    }
    return el("tr", { "data-id": order.id, "data-status": order.status }, cells);
  }

  async function loadOpenOrders() {
    const table = document.getElementById("open-orders-table");
    const box = document.getElementById("open-orders-state");
    try {
      const page = await BM.api("GET", "/api/v1/terminal/orders" + qs({ connection: state.connection, status: "open", page_size: 100 }));
      BM.showTable(table, box, page.results.map(function (o) { return orderRow(o, true); }), T.noOpenOrders);
    } catch (err) {
      showError(table, box, err);
    }
  }

  async function loadHistory() {
    const table = document.getElementById("history-table");
    const box = document.getElementById("history-state");
    const pager = document.getElementById("history-pager");
    try {
      const page = await BM.api("GET", "/api/v1/terminal/orders" + qs({
        connection: state.connection, page: state.historyPage, page_size: HISTORY_PAGE,
      }));
      BM.showTable(table, box, page.results.map(function (o) { return orderRow(o, false); }), T.noOrders);
      const pages = Math.max(1, Math.ceil(page.count / HISTORY_PAGE));
      pager.hidden = pages <= 1;
      document.getElementById("history-page").textContent = T.page + " " + state.historyPage + " / " + pages;
      document.getElementById("history-prev").disabled = !page.previous;
      document.getElementById("history-next").disabled = !page.next;
    } catch (err) {
      if (err.status === 404 && state.historyPage > 1) {  // the page emptied: back to the first
        state.historyPage = 1;
        return loadHistory();
      }
      showError(table, box, err);
      pager.hidden = true;
    }
  }

  document.getElementById("history-prev").addEventListener("click", function () {
    state.historyPage = Math.max(1, state.historyPage - 1);
    loadHistory();
  });
  document.getElementById("history-next").addEventListener("click", function () {
    state.historyPage += 1;
    loadHistory();
  });

  async function loadPositions() {
    const table = document.getElementById("positions-table");
    const box = document.getElementById("positions-state");
    try {
      const rows = await BM.api("GET", "/api/v1/terminal/positions" + qs({ connection: state.connection }));
      BM.showTable(table, box, rows.map(function (p) {
        return el("tr", { "data-symbol": p.symbol }, [
          el("td", { text: p.symbol }),
          el("td", { class: "num " + BM.signClass(p.amount), text: p.amount }),
          el("td", { class: "num", text: text(p.average_entry) }),
          el("td", { class: "num", text: text(p.mark) }),
          el("td", { class: "num " + BM.signClass(p.unrealized_pnl), text: text(p.unrealized_pnl) }),
        ]);
      }), T.noPositions);
    } catch (err) {
      showError(table, box, err);
    }
  }

  async function loadBalances() {
    const table = document.getElementById("balances-table");
    const box = document.getElementById("balances-state");
    try {
      const rows = await BM.api("GET", "/api/v1/terminal/balances" + qs({ connection: state.connection }));
      BM.showTable(table, box, rows.map(function (b) {
        return el("tr", { "data-asset": b.asset }, [
          el("td", { text: b.asset }),
          el("td", { class: "num", text: b.free }),
          el("td", { class: "num", text: b.used }),
          el("td", { class: "num", text: b.total }),
        ]);
      }), T.noBalances);
    } catch (err) {
      showError(table, box, err);
    }
  }

  function loadAccount() {
    return Promise.all([loadOpenOrders(), loadHistory(), loadPositions(), loadBalances()]);
  }

  async function cancelOrder(order, button) {
    button.disabled = true;
    button.textContent = T.canceling + "…";
    try {
      await BM.api("POST", "/api/v1/terminal/orders/" + order.id + "/cancel");
    } catch (err) {
      window.alert(err.message);
    }
    loadAccount();
  }

  /* ------------------------------------------------------------------ the order form */

  // One idempotency key per order the user means to place: kept while a request is unanswered
  // (a retry after a network error cannot place twice), renewed once an answer arrived or the
  // form changed. The button is disabled while a request is in flight, so a double click sends
  // nothing twice either.
  let orderKey = null;
  let inFlight = false;

  function resetKey() { orderKey = null; }

  function updateEstimate() {
    if (!form) return;
    const out = document.getElementById("order-estimate");
    const type = form.elements.type.value;
    const amount = Number(form.elements.amount.value);
    const price = type === "limit" ? Number(form.elements.price.value) : Number(state.last);
    const instrument = state.instruments[state.symbol];
    if (!amount || !price || !instrument) { out.textContent = ""; return; }
    out.textContent = T.estimate + ": ≈ " + (amount * price).toFixed(2) + " " + instrument.quote;
  }

  if (form) {
    const typeSelect = form.elements.type;
    const priceField = document.getElementById("price-field");
    const submit = document.getElementById("order-submit");
    const result = document.getElementById("order-result");

    function syncType() {
      priceField.hidden = typeSelect.value !== "limit";
      if (priceField.hidden) form.elements.price.value = "";
      else if (!form.elements.price.value && state.last) form.elements.price.value = state.last;
      updateEstimate();
    }

    function syncSide() {
      const side = form.querySelector('input[name="side"]:checked').value;
      submit.classList.toggle("sell-button", side === "sell");
      submit.textContent = (side === "buy" ? T.buy : T.sell) + " " + (state.symbol || "");
    }

    form.addEventListener("input", function () { resetKey(); updateEstimate(); });
    form.addEventListener("change", function () { resetKey(); syncType(); syncSide(); });

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (inFlight) return;
      inFlight = true;
      submit.disabled = true;
      result.hidden = true;
      BM.clearProblem(form);
      if (!orderKey) orderKey = newKey();
      const body = {
        connection: state.connection,
        symbol: state.symbol,
        side: form.querySelector('input[name="side"]:checked').value,
        type: typeSelect.value,
        amount: form.elements.amount.value.trim(),
      };
      if (body.type === "limit") body.price = form.elements.price.value.trim();
      try {
        const order = await BM.api("POST", "/api/v1/terminal/orders", body, { headers: { "Idempotency-Key": orderKey } });
        resetKey();
        result.textContent = T.placed + ": " + (T[order.side] || order.side) + " " + order.amount + " " +
          order.symbol + " — " + (T[order.status] || order.status);
        result.hidden = false;
        state.historyPage = 1;
        loadAccount();
      } catch (err) {
        // Keep the key only when the outcome is unknown (no answer, 5xx, still in progress).
        if (err.status && err.status < 500 && err.status !== 409) resetKey();
        else if (err.problem && err.problem.code === "order-not-placed") resetKey();
        BM.showProblem(form, err);
      } finally {
        inFlight = false;
        submit.disabled = false;
      }
    });

    syncType();
    const observer = new MutationObserver(syncSide);
    observer.observe(document.getElementById("order-symbol"), { childList: true });
    syncSide();
  }

  /* ------------------------------------------------------------------ wiring */

  function restartTimers() {
    clearInterval(state.tickerTimer);
    clearInterval(state.accountTimer);
    pollTicker();
    state.tickerTimer = setInterval(pollTicker, TICKER_MS);
    state.accountTimer = setInterval(loadAccount, ACCOUNT_MS);
  }

  connectionSelect.addEventListener("change", function () {
    state.connection = connectionSelect.value;
    localStorage.setItem("terminal.connection", state.connection);
    state.historyPage = 1;
    loadInstruments();
    loadAccount();
  });

  symbolSelect.addEventListener("change", function () { selectSymbol(symbolSelect.value); });

  // Pause polling in a hidden tab; catch up at once when it is shown again.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearInterval(state.tickerTimer);
      clearInterval(state.accountTimer);
    } else if (state.symbol) {
      restartTimers();
      loadAccount();
    }
  });

  const savedConnection = localStorage.getItem("terminal.connection");
  if (savedConnection && connectionSelect.querySelector('option[value="' + savedConnection + '"]')) {
    connectionSelect.value = savedConnection;
    state.connection = savedConnection;
  }
  loadInstruments();
  loadAccount();
})();
