/* Research lab pages: datasets and backtests (/lab) and the report of one backtest
   (/lab/backtests/<id>). Everything goes through the REST API with BM.api; lists refresh
   while something is importing, queued or running. Charts: lightweight-charts v5. */
(function () {
  "use strict";

  const root = document.querySelector("[data-page]");
  if (!root) return;
  const T = JSON.parse(document.getElementById("lab-texts").textContent);
  const canWrite = root.dataset.canWrite === "1";
  const POLL_MS = 1500;
  const el = BM.el;

  /* ------------------------------------------------------------------ formatting */

  function fmtNum(value, digits) {
    if (value === null || value === undefined || value === "") return "—";
    return Number(value).toLocaleString(undefined, {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    });
  }

  function toSeconds(iso) {
    return Math.floor(Date.parse(iso) / 1000);
  }

  function progressBar(percent) {
    const fill = el("div");
    fill.style.width = percent + "%";
    return el("div", {
      class: "progress", role: "progressbar", "aria-valuenow": String(percent),
      "aria-valuemin": "0", "aria-valuemax": "100",
    }, [fill]);
  }

  /* ------------------------------------------------------------------ /lab */

  function labPage() {
    const datasetsTable = document.getElementById("datasets-table");
    const datasetsState = document.getElementById("datasets-state");
    const backtestsTable = document.getElementById("backtests-table");
    const backtestsState = document.getElementById("backtests-state");
    const datasetForm = document.getElementById("dataset-form");
    const backtestForm = document.getElementById("backtest-form");
    const datasetSelect = document.getElementById("bt-dataset");
    let datasets = [];
    let timer = null;
    let previewChart = null;

    function datasetRow(d) {
      const status = el("td", {}, [BM.badge(d.status, T[d.status])]);
      if (d.status === "importing") status.append(progressBar(d.progress));
      if (d.status === "failed" && d.error) status.append(el("div", { class: "field-error", text: d.error }));
      const actions = el("td", { class: "actions" });
      if (d.status === "ready") {
        actions.append(el("button", {
          type: "button", class: "link", text: T.preview, "data-action": "preview",
          onclick: function () { preview(d); },
        }));
      }
      if (canWrite) {
        const del = el("button", {
          type: "button", class: "link danger-link", text: T.delete, "data-action": "delete",
          onclick: function () { removeDataset(d); },
        });
        actions.append(" ", del);
      }
      return el("tr", { "data-id": d.id }, [
        el("td", { text: d.name }),
        el("td", { text: d.symbol + " " + d.timeframe }),
        el("td", { text: T["src_" + d.source] || d.source }),
        el("td", { text: d.start_ts ? BM.time(d.start_ts) + " – " + BM.time(d.end_ts) : "—" }),
        el("td", { class: "num", text: fmtNum(d.rows, 0) }),
        status,
        el("td", {}, [el("code", { title: d.sha256, text: d.sha256 ? d.sha256.slice(0, 12) + "…" : "—" })]),
        actions,
      ]);
    }

    function fillDatasetSelect() {
      if (!datasetSelect) return;
      const chosen = datasetSelect.value;
      const ready = datasets.filter(function (d) { return d.status === "ready"; });
      const options = ready.map(function (d) {
        return el("option", { value: d.id, text: d.name + " (" + d.symbol + " " + d.timeframe + ", " + fmtNum(d.rows, 0) + ")" });
      });
      if (options.length === 0) options.push(el("option", { value: "", text: T.noReadyDatasets }));
      datasetSelect.replaceChildren.apply(datasetSelect, options);
      if (ready.some(function (d) { return d.id === chosen; })) datasetSelect.value = chosen;
    }

    function backtestRow(b) {
      const status = el("td", {}, [BM.badge(b.status, T[b.status])]);
      if (b.status === "queued" || b.status === "running") status.append(progressBar(b.progress));
      if (b.status === "failed" && b.error) status.append(el("div", { class: "field-error clip", title: b.error, text: b.error }));
      const m = b.metrics || {};
      return el("tr", { "data-id": b.id, "data-status": b.status }, [
        el("td", { text: BM.time(b.created_at) }),
        el("td", { text: b.strategy_name + " · v" + b.strategy_version_number }),
        el("td", { text: b.dataset_name }),
        status,
        el("td", { class: "num " + BM.signClass(m.net_pnl), text: fmtNum(m.net_pnl, 2) }),
        el("td", { class: "num", text: m.trades === undefined ? "—" : String(m.trades) }),
        el("td", { class: "num", text: fmtNum(m.max_drawdown_pct, 2) }),
        el("td", {}, [el("a", { href: "/lab/backtests/" + b.id, text: T.report })]),
      ]);
    }

    async function loadDatasets() {
      try {
        const data = await BM.api("GET", "/api/v1/lab/datasets?page_size=200");
        datasets = data.results;
        BM.showTable(datasetsTable, datasetsState, datasets.map(datasetRow), T.noDatasets);
        fillDatasetSelect();
        return datasets.some(function (d) { return d.status === "importing"; });
      } catch (err) {
        datasetsTable.hidden = true;
        BM.state(datasetsState, "alert error", T.error + " " + err.message);
        return false;
      }
    }

    async function loadBacktests() {
      try {
        const data = await BM.api("GET", "/api/v1/lab/backtests?page_size=50");
        BM.showTable(backtestsTable, backtestsState, data.results.map(backtestRow), T.noBacktests);
        return data.results.some(function (b) { return b.status === "queued" || b.status === "running"; });
      } catch (err) {
        backtestsTable.hidden = true;
        BM.state(backtestsState, "alert error", T.error + " " + err.message);
        return false;
      }
    }

    async function refresh() {
      clearTimeout(timer);
      const busy = await Promise.all([loadDatasets(), loadBacktests()]);
      if (busy[0] || busy[1]) timer = setTimeout(refresh, POLL_MS);
    }

    async function removeDataset(d) {
      if (!window.confirm(T.confirmDelete + " " + d.name)) return;
      try {
        await BM.api("DELETE", "/api/v1/lab/datasets/" + d.id);
      } catch (err) {
        window.alert(err.message);
      }
      refresh();
    }

    async function preview(d) {
      const box = document.getElementById("preview");
      const container = document.getElementById("preview-chart");
      box.hidden = false;
      document.getElementById("preview-title").textContent = d.name + " · " + d.symbol + " " + d.timeframe;
      if (previewChart) { previewChart.remove(); previewChart = null; }
      BM.state(container, "loading", T.loading);
      try {
        const data = await BM.api("GET", "/api/v1/lab/datasets/" + d.id + "/candles?points=400");
        container.replaceChildren();
        previewChart = LightweightCharts.createChart(container, BM.chartOptions(280));
        const series = previewChart.addSeries(LightweightCharts.CandlestickSeries, {});
        series.setData(data.candles.map(function (c) {
          return { time: toSeconds(c.time), open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) };
        }));
        previewChart.timeScale().fitContent();
      } catch (err) {
        BM.state(container, "alert error", T.error + " " + err.message);
      }
    }

    function currentSource() {
      const checked = datasetForm.querySelector('input[name="source"]:checked');
      return checked ? checked.value : "demo";
    }

    function toggleSourceFields() {
      const source = currentSource();
      datasetForm.querySelectorAll("[data-for]").forEach(function (field) {
        field.hidden = field.dataset.for.split(" ").indexOf(source) < 0;
      });
    }

    function utc(value) {
      // datetime-local gives "YYYY-MM-DDTHH:MM"; the form's times are UTC.
      return value ? (value.length === 16 ? value + ":00" : value) + "Z" : undefined;
    }

    async function submitDataset(event) {
      event.preventDefault();
      BM.clearProblem(datasetForm);
      const source = currentSource();
      const fields = BM.formJson(datasetForm);
      let body;
      if (source === "csv") {
        body = new FormData();
        ["source", "name", "symbol", "timeframe", "amount_step"].forEach(function (name) {
          if (fields[name] !== undefined) body.append(name, fields[name]);
        });
        const file = datasetForm.querySelector('input[name="file"]').files[0];
        if (file) body.append("file", file);
      } else {
        body = { source: source, name: fields.name, symbol: fields.symbol, timeframe: fields.timeframe,
                 start: utc(fields.start), end: utc(fields.end) };
        if (source === "exchange") body.connection = fields.connection;
      }
      const button = document.getElementById("dataset-submit");
      button.disabled = true;
      try {
        await BM.api("POST", "/api/v1/lab/datasets", body);
        datasetForm.querySelector('input[name="name"]').value = "";
        refresh();
      } catch (err) {
        BM.showProblem(datasetForm, err);
      } finally {
        button.disabled = false;
      }
    }

    async function submitBacktest(event) {
      event.preventDefault();
      BM.clearProblem(backtestForm);
      const button = document.getElementById("backtest-submit");
      button.disabled = true;
      try {
        await BM.api("POST", "/api/v1/lab/backtests", BM.formJson(backtestForm));
        refresh();
      } catch (err) {
        BM.showProblem(backtestForm, err);
      } finally {
        button.disabled = false;
      }
    }

    if (datasetForm) {
      datasetForm.addEventListener("change", function (event) {
        if (event.target.name === "source") toggleSourceFields();
      });
      datasetForm.addEventListener("submit", submitDataset);
      toggleSourceFields();
    }
    if (backtestForm) backtestForm.addEventListener("submit", submitBacktest);
    refresh();
  }

  /* ------------------------------------------------------------------ /lab/backtests/<id> */

  function reportPage() {
    const id = root.dataset.backtestId;
    const statusBadge = document.getElementById("report-status");
    const progressBox = document.getElementById("report-progress");
    const errorBox = document.getElementById("report-error");
    const tradesTable = document.getElementById("trades-table");
    const tradesState = document.getElementById("trades-state");
    const pager = document.getElementById("trades-pager");
    let tradesPage = 1;
    let chartsLoaded = false;

    function setStatus(status) {
      statusBadge.className = "badge " + status;
      statusBadge.textContent = T[status] || status;
    }

    function renderMetrics(b) {
      const m = b.metrics || {};
      const values = {
        net_pnl: [fmtNum(m.net_pnl, 2), BM.signClass(m.net_pnl)],
        net_pnl_pct: [fmtNum(m.net_pnl_pct, 2), BM.signClass(m.net_pnl_pct)],
        win_rate: [fmtNum(m.win_rate, 2), ""],
        max_drawdown_pct: [fmtNum(m.max_drawdown_pct, 2), ""],
        trades: [m.trades === undefined ? "—" : String(m.trades), ""],
        profit_factor: [fmtNum(m.profit_factor, 2), ""],
        sharpe: [fmtNum(m.sharpe, 2), ""],
        exposure_pct: [fmtNum(m.exposure_pct, 2), ""],
        final_equity: [fmtNum(b.final_equity, 2), ""],
        rejected_orders: [String(b.rejected_orders), ""],
      };
      document.querySelectorAll("[data-metric]").forEach(function (card) {
        const value = values[card.dataset.metric];
        const strong = card.querySelector(".value");
        strong.textContent = value[0];
        strong.className = "value " + value[1];
      });
      const open = document.getElementById("open-position");
      if (b.open_position) {
        const p = b.open_position;
        open.hidden = false;
        open.textContent = T.openPosition + ": " + p.amount + " @ " + fmtNum(p.entry_price, 2) +
          " → " + fmtNum(p.mark_price, 2) + " (" + fmtNum(p.unrealized_pnl, 2) + ")";
      }
    }

    async function loadCharts() {
      const equityBox = document.getElementById("equity-chart");
      const drawdownBox = document.getElementById("drawdown-chart");
      try {
        const data = await BM.api("GET", "/api/v1/lab/backtests/" + id + "/equity?points=1500");
        equityBox.replaceChildren();
        const times = data.time.map(toSeconds);
        const equityChart = LightweightCharts.createChart(equityBox, BM.chartOptions(320));
        equityChart.addSeries(LightweightCharts.AreaSeries, {
          lineColor: "#2563eb", topColor: "rgba(37, 99, 235, 0.25)", bottomColor: "rgba(37, 99, 235, 0.02)", lineWidth: 2,
        }).setData(times.map(function (t, i) { return { time: t, value: Number(data.equity[i]) }; }));
        const drawdownChart = LightweightCharts.createChart(drawdownBox, BM.chartOptions(180));
        drawdownChart.addSeries(LightweightCharts.AreaSeries, {
          lineColor: "#b91c1c", topColor: "rgba(185, 28, 28, 0.02)", bottomColor: "rgba(185, 28, 28, 0.3)",
          invertFilledArea: true, lineWidth: 1,
        }).setData(times.map(function (t, i) { return { time: t, value: -data.drawdown_pct[i] }; }));
        equityChart.timeScale().fitContent();
        drawdownChart.timeScale().fitContent();
        // Both charts have the same points: scrolling or zooming one moves the other.
        equityChart.timeScale().subscribeVisibleLogicalRangeChange(function (range) {
          if (range) drawdownChart.timeScale().setVisibleLogicalRange(range);
        });
        drawdownChart.timeScale().subscribeVisibleLogicalRangeChange(function (range) {
          if (range) equityChart.timeScale().setVisibleLogicalRange(range);
        });
        chartsLoaded = true;
      } catch (err) {
        BM.state(equityBox, "alert error", T.error + " " + err.message);
      }
    }

    const reasons = { signal: T.exitSignal, take_profit: T.exitTakeProfit, stop_loss: T.exitStopLoss, trailing_stop: T.exitTrailingStop };

    async function loadTrades(page) {
      BM.state(tradesState, "loading", T.loading);
      try {
        const data = await BM.api("GET", "/api/v1/lab/backtests/" + id + "/trades?page=" + page);
        tradesPage = page;
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
            el("td", { text: reasons[t.exit_reason] || t.exit_reason }),
          ]);
        });
        BM.showTable(tradesTable, tradesState, rows, T.noTrades);
        const pages = Math.max(1, Math.ceil(data.count / 50));
        pager.hidden = pages <= 1;
        document.getElementById("trades-page").textContent = T.page + " " + page + " / " + pages;
        document.getElementById("trades-prev").disabled = !data.previous;
        document.getElementById("trades-next").disabled = !data.next;
      } catch (err) {
        tradesTable.hidden = true;
        BM.state(tradesState, "alert error", T.error + " " + err.message);
      }
    }

    async function load() {
      let b;
      try {
        b = await BM.api("GET", "/api/v1/lab/backtests/" + id);
      } catch (err) {
        errorBox.hidden = false;
        errorBox.textContent = T.error + " " + err.message;
        setTimeout(load, POLL_MS * 2);
        return;
      }
      errorBox.hidden = true;
      setStatus(b.status);
      document.getElementById("inputs-hash").textContent = b.inputs_sha256;
      if (b.status === "queued" || b.status === "running") {
        progressBox.hidden = false;
        document.getElementById("report-progress-bar").style.width = b.progress + "%";
        setTimeout(load, POLL_MS);
        return;
      }
      progressBox.hidden = true;
      renderMetrics(b);
      if (b.status === "failed") {
        errorBox.hidden = false;
        errorBox.textContent = b.error;
        BM.state(document.getElementById("equity-chart"), "empty", b.error);
        BM.state(tradesState, "empty", T.noTrades);
        return;
      }
      if (!chartsLoaded) loadCharts();
      loadTrades(tradesPage);
    }

    document.getElementById("trades-prev").addEventListener("click", function () { loadTrades(tradesPage - 1); });
    document.getElementById("trades-next").addEventListener("click", function () { loadTrades(tradesPage + 1); });
    const rerunForm = document.getElementById("rerun-form");
    if (rerunForm) {
      rerunForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        const button = document.getElementById("rerun-button");
        button.disabled = true;
        try {
          const fresh = await BM.api("POST", "/api/v1/lab/backtests/" + id + "/rerun");
          window.location.assign("/lab/backtests/" + fresh.id);
        } catch (err) {
          BM.showProblem(rerunForm, err);
          button.disabled = false;
        }
      });
    }
    load();
  }

  if (root.dataset.page === "lab") labPage();
  else if (root.dataset.page === "report") reportPage();
})();
