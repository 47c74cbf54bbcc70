/* BotMarket UI helpers shared by every page (base.html loads this file once, before the page's
   own script): API calls with session auth, CSRF and the current workspace; problem+json errors
   shown next to the fields their JSON pointers name; the page configuration the server renders
   into #bm-config (timeframes); and the small rendering helpers the pages share (tables, badges,
   signs, times, charts). */
(function () {
  "use strict";

  /* What the server tells every page (config/context_processors.py): the timeframes
     ({"1m": ms, …}) and this file's own texts in the page's language. */
  const configScript = document.getElementById("bm-config");
  const config = Object.freeze(configScript ? JSON.parse(configScript.textContent) : {});

  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  class ApiError extends Error {
    constructor(problem, status) {
      super(problem.detail || problem.title || ("HTTP " + status));
      this.problem = problem;
      this.status = status;
    }
  }

  async function api(method, url, body, options) {
    const headers = { "Accept": "application/json", "X-Workspace-Id": document.body.dataset.workspaceId || "" };
    const init = { method: method, headers: headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = cookie("csrftoken");
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    Object.assign(headers, (options && options.headers) || {});
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new ApiError({ title: config.texts.networkError, detail: String(err), errors: [] }, 0);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (err) { data = { detail: text }; }
    if (!response.ok) throw new ApiError(data || { title: response.statusText, errors: [] }, response.status);
    return data;
  }

  /* Show a problem's field errors under the inputs named by the pointers' first segment (or
     data-pointer attribute); anything unmatched goes to the form's general error box. */
  function showProblem(form, error) {
    clearProblem(form);
    const problem = error.problem || { detail: String(error), errors: [] };
    const general = [];
    (problem.errors || []).forEach(function (item) {
      const pointer = item.pointer || "";
      let input = form.querySelector('[data-pointer="' + pointer + '"]');
      if (!input) {
        const name = pointer.split("/")[1];
        input = name ? form.querySelector('[name="' + name + '"]') : null;
      }
      if (input) {
        const wrap = input.closest(".field") || input.parentElement;
        wrap.classList.add("has-error");
        const p = document.createElement("p");
        p.className = "field-error";
        p.textContent = item.detail;
        wrap.appendChild(p);
      } else {
        general.push(item.detail);
      }
    });
    if (!problem.errors || problem.errors.length === 0 || general.length) {
      const box = form.querySelector(".form-error") || form.insertBefore(document.createElement("div"), form.firstChild);
      box.className = "alert error form-error";
      box.setAttribute("role", "alert");
      box.textContent = general.length ? general.join(" ") : (problem.detail || problem.title);
    }
  }

  function clearProblem(form) {
    form.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    form.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
    const box = form.querySelector(".form-error");
    if (box) box.remove();
  }

  function formJson(form) {
    const data = {};
    new FormData(form).forEach(function (value, key) {
      if (value !== "") data[key] = value;
    });
    return data;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }

  /* Every item of a paginated list endpoint, following its `next` links. */
  async function fetchAll(url) {
    const items = [];
    let next = url;
    while (next) {
      const page = await api("GET", next);
      items.push.apply(items, page.results);
      next = page.next;
    }
    return items;
  }

  /* Render a state (loading, error, empty) into a container, replacing what was there. */
  function state(container, kind, text) {
    container.replaceChildren(el("p", { class: kind, text: text }));
  }

  /* Fill a table's body with `rows`; no rows hides the table and shows `emptyText` instead. */
  function showTable(table, stateBox, rows, emptyText) {
    const body = table.querySelector("tbody");
    body.replaceChildren.apply(body, rows);
    table.hidden = rows.length === 0;
    if (rows.length === 0) state(stateBox, "empty", emptyText);
    else stateBox.replaceChildren();
  }

  /* A status badge: class "badge <kind>" (the colour), its text the page's label for it. */
  function badge(kind, label) {
    return el("span", { class: kind ? "badge " + kind : "badge", text: label || kind || "" });
  }

  /* "buy" (green) for a positive number, "sell" (red) for a negative one, "" otherwise. */
  function signClass(value) {
    const n = Number(value);
    return n > 0 ? "buy" : n < 0 ? "sell" : "";
  }

  /* A moment (ISO 8601 text or epoch ms) as every page shows it: UTC, "YYYY-MM-DD HH:MM:SS",
     the same as the server-rendered pages; "—" for none. */
  function time(value) {
    if (value === null || value === undefined || value === "") return "—";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().slice(0, 19).replace("T", " ");
  }

  /* Options of a lightweight-charts chart in the page's colours; `height` where it is fixed. */
  function chartOptions(height) {
    const options = {
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: "#1d2330" },
      grid: { vertLines: { color: "#eef1f5" }, horzLines: { color: "#eef1f5" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderColor: "#e3e6eb" },
    };
    if (height !== undefined) options.height = height;
    return options;
  }

  window.BM = {
    config: config, api: api, ApiError: ApiError, fetchAll: fetchAll,
    showProblem: showProblem, clearProblem: clearProblem, formJson: formJson,
    el: el, state: state, showTable: showTable, badge: badge, signClass: signClass, time: time,
    chartOptions: chartOptions,
  };
})();
