/* Strategy pages: the list (/strategies) and the editor (/strategies/new, /strategies/<id>).

   The editor is a textarea with a line gutter. Its text is parsed here with a small JSON parser
   that remembers the line of every value, so each error's JSON pointer from the API
   (`/body/indicators/0/period`) is marked on the line where that value is written, and the
   marks follow the text while it is edited. A pointer to a missing field marks the line of the
   object that lacks it. Everything is saved through the REST API with BM.api. */
(function () {
  "use strict";

  const root = document.querySelector("#strategies-page, #editor-page");
  if (!root) return;
  const T = JSON.parse(document.getElementById("strategies-texts").textContent);
  const canWrite = root.dataset.canWrite === "1";
  const API = "/api/v1/strategies";
  const el = BM.el;

  function fmtTime(iso) {
    return iso ? iso.replace("T", " ").replace(/(\.\d+)?(Z|[+-]00:00)$/, "") : "—";
  }

  /* Every item of a paginated list endpoint, following `next` links. */
  async function fetchAll(url) {
    const items = [];
    let next = url;
    while (next) {
      const page = await BM.api("GET", next);
      items.push.apply(items, page.results);
      next = page.next;
    }
    return items;
  }

  /* ------------------------------------------------------------------ /strategies */

  async function listPage() {
    const table = document.getElementById("strategies-table");
    const state = document.getElementById("strategies-state");
    let strategies;
    try {
      strategies = await fetchAll(API + "?page_size=500");
    } catch (err) {
      BM.state(state, "alert error", T.loadError + " " + err.message);
      return;
    }
    const rows = strategies.map(function (s) {
      const latest = s.latest_version;
      const body = (latest && latest.body) || {};
      return el("tr", { "data-strategy-id": s.id }, [
        el("td", {}, [el("a", { href: "/strategies/" + s.id, text: s.name })]),
        el("td", { text: body.symbol ? body.symbol + " · " + body.timeframe : "—" }),
        el("td", { class: "num", text: latest ? "v" + latest.number : "—" }),
        el("td", { text: fmtTime(s.updated_at) }),
        el("td", { text: s.created_by || "—" }),
      ]);
    });
    table.querySelector("tbody").replaceChildren.apply(table.querySelector("tbody"), rows);
    table.hidden = rows.length === 0;
    if (rows.length === 0) BM.state(state, "empty", T.noStrategies);
    else state.replaceChildren();
  }

  /* ------------------------------------------------------------------ JSON with lines */

  function escapeToken(token) {
    return String(token).replace(/~/g, "~0").replace(/\//g, "~1");
  }

  function unescapeToken(token) {
    return token.replace(/~1/g, "/").replace(/~0/g, "~");
  }

  class JsonSyntaxError extends Error {
    constructor(message, line, column) {
      super(message);
      this.line = line;
      this.column = column;
    }
  }

  /* Parse JSON text; return {value, lines} where lines maps each JSON pointer to the 0-based
     line its value (or its key, inside an object) starts on. Throws JsonSyntaxError with the
     position of the first problem. Duplicate keys are an error: JSON.parse would silently keep
     the last one, and the server would never see the first. */
  function parseJson(text) {
    const lines = new Map();
    let i = 0;
    let line = 0;
    const n = text.length;

    function fail(message, at) {
      const pos = at === undefined ? i : at;
      const before = text.slice(0, pos);
      const row = before.split("\n").length;
      throw new JsonSyntaxError(message, row, pos - before.lastIndexOf("\n"));
    }
    function skip() {
      while (i < n) {
        const c = text[i];
        if (c === "\n") line++;
        else if (c !== " " && c !== "\t" && c !== "\r") break;
        i++;
      }
    }
    function value(pointer) {
      skip();
      if (!lines.has(pointer)) lines.set(pointer, line);
      if (i >= n) fail(T.unexpectedEnd);
      const c = text[i];
      if (c === "{") return object(pointer);
      if (c === "[") return array(pointer);
      if (c === '"') return string();
      if (c === "-" || (c >= "0" && c <= "9")) return number();
      const words = [["true", true], ["false", false], ["null", null]];
      for (const [word, result] of words) {
        if (text.startsWith(word, i)) {
          i += word.length;
          return result;
        }
      }
      fail(T.unexpectedChar + " " + JSON.stringify(c));
    }
    function object(pointer) {
      i++;
      const out = {};
      skip();
      if (text[i] === "}") {
        i++;
        return out;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') fail(T.expectedKey);
        const keyAt = i;
        const keyLine = line;
        const key = string();
        if (Object.prototype.hasOwnProperty.call(out, key)) {
          fail(T.duplicateKey + " " + JSON.stringify(key), keyAt);
        }
        const child = pointer + "/" + escapeToken(key);
        lines.set(child, keyLine);
        skip();
        if (text[i] !== ":") fail(T.expectedColon);
        i++;
        // defineProperty: a key such as "__proto__" stays an ordinary field.
        Object.defineProperty(out, key, {
          value: value(child), enumerable: true, writable: true, configurable: true,
        });
        skip();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return out; }
        fail(T.expectedCommaBrace);
      }
    }
    function array(pointer) {
      i++;
      const out = [];
      skip();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(pointer + "/" + out.length));
        skip();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return out; }
        fail(T.expectedCommaBracket);
      }
    }
    function string() {
      const start = i;
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === "\n") fail(T.badString, start);
        i += text[i] === "\\" ? 2 : 1;
      }
      if (i >= n) fail(T.badString, start);
      i++;
      try {
        return JSON.parse(text.slice(start, i));
      } catch (err) {
        return fail(T.badString, start);
      }
    }
    function number() {
      const pattern = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
      pattern.lastIndex = i;
      const match = pattern.exec(text);
      if (!match) fail(T.badNumber);
      i = pattern.lastIndex;
      return Number(match[0]);
    }

    const result = value("");
    skip();
    if (i < n) fail(T.trailing);
    return { value: result, lines: lines };
  }

  /* JSON.stringify(value, null, 2), the layout every body is shown and compared in. */
  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  /* The line of `pointer` in a parse result; a missing field falls back to its parent. */
  function lineOf(parsed, pointer) {
    let p = pointer;
    for (;;) {
      if (parsed.lines.has(p)) return parsed.lines.get(p);
      if (!p) return 0;
      p = p.slice(0, p.lastIndexOf("/"));
    }
  }

  /* ------------------------------------------------------------------ line diff */

  /* Longest-common-subsequence line diff: [{sign: " "|"-"|"+", a, b, text}]. Bodies are bounded
     by the schema (a few hundred lines), so the quadratic table stays small. */
  function diffLines(a, b) {
    const n = a.length;
    const m = b.length;
    const table = [];
    for (let i = 0; i <= n; i++) table.push(new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    const out = [];
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) {
        out.push({ sign: " ", a: i + 1, b: j + 1, text: a[i] });
        i++;
        j++;
      } else if (j >= m || (i < n && table[i + 1][j] >= table[i][j + 1])) {
        out.push({ sign: "-", a: i + 1, b: "", text: a[i] });
        i++;
      } else {
        out.push({ sign: "+", a: "", b: j + 1, text: b[j] });
        j++;
      }
    }
    return out;
  }

  /* ------------------------------------------------------------------ schema hints */

  function schemaTools(schema) {
    const defs = schema.$defs || {};

    /* A schema node with its $ref followed; the referring node's own description wins. */
    function deref(node) {
      if (!node || !node.$ref) return node;
      const name = node.$ref.split("/").pop();
      const target = deref(defs[name]) || {};
      const merged = Object.assign({}, target, { def: name });
      if (node.description) merged.description = node.description;
      return merged;
    }

    /* The sub-schema that applies to `instance` where the schema branches on it. */
    function branch(node, instance) {
      if (!node) return node;
      if (node.def === "indicator" && instance && defs[instance.type]) {
        return Object.assign({}, deref(defs[instance.type]), { def: instance.type });
      }
      if (node.def === "source") {
        return deref({ $ref: typeof instance === "string" ? "#/$defs/price_field" : "#/$defs/indicator_ref", description: node.description });
      }
      return node;
    }

    /* {name, node} of the schema describing the value at `pointer` in `body`, or null. */
    function at(pointer, body) {
      let node = deref(schema);
      let instance = body;
      let name = "";
      const tokens = pointer ? pointer.split("/").slice(1).map(unescapeToken) : [];
      for (const token of tokens) {
        node = branch(node, instance);
        if (node && node.properties && node.properties[token]) node = deref(node.properties[token]);
        else if (node && node.items) node = deref(node.items);
        else return null;
        instance = instance !== null && typeof instance === "object" ? instance[token] : undefined;
        name = token;
      }
      return { name: name, node: branch(node, instance) };
    }

    return { defs: defs, deref: deref, at: at };
  }

  function describe(node) {
    if (!node) return "";
    let text = node.description || "";
    if (node.enum && text.indexOf(String(node.enum[0])) < 0) {
      text += (text ? " " : "") + "[" + node.enum.join(", ") + "]";
    }
    return text;
  }

  function renderReference(container, schema, tools) {
    function dl(properties, required) {
      const list = el("dl");
      Object.entries(properties || {}).forEach(function ([key, raw]) {
        const dt = el("dt", { text: key });
        if ((required || []).includes(key)) dt.append(el("span", { class: "badge", text: T.required }));
        list.append(dt, el("dd", { text: describe(tools.deref(raw)) }));
      });
      return list;
    }
    function section(title, children, open) {
      const details = el("details", open ? { open: "" } : {}, [el("summary", { text: title })]);
      children.forEach(function (child) { details.append(child); });
      return details;
    }
    const defs = tools.defs;
    const sections = [section(T.bodyFields, [dl(schema.properties, schema.required)], true)];

    const types = (((defs.indicator || {}).properties || {}).type || {}).enum || [];
    const indicatorList = el("dl");
    types.forEach(function (type) {
      const def = defs[type] || {};
      const params = Object.keys(def.properties || {}).filter(function (k) { return k !== "name" && k !== "type"; });
      indicatorList.append(
        el("dt", { text: type + " (" + params.join(", ") + ")" }),
        el("dd", { text: def.description || "" })
      );
    });
    sections.push(section(T.indicators, [indicatorList]));
    sections.push(section(T.conditions, [
      el("p", { class: "small", text: (defs.condition || {}).description || "" }),
      dl((defs.condition || {}).properties),
    ]));
    sections.push(section(T.operands, [el("p", { class: "small", text: (defs.operand || {}).description || "" })]));
    sections.push(section(T.exitRules, [
      el("p", { class: "small", text: (defs.exit || {}).description || "" }),
      dl((defs.exit || {}).properties),
    ]));
    sections.push(section(T.sizing, [
      el("p", { class: "small", text: (defs.sizing || {}).description || "" }),
      dl((defs.sizing || {}).properties, (defs.sizing || {}).required),
    ]));
    container.replaceChildren.apply(container, sections);
  }

  /* ------------------------------------------------------------------ the editor */

  function editorPage() {
    const strategyId = root.dataset.strategyId;
    const editor = document.getElementById("body-editor");
    const gutter = document.getElementById("gutter-lines");
    const marks = document.getElementById("marks");
    const statusBox = document.getElementById("editor-status");
    const hint = document.getElementById("cursor-hint");
    const errorsBox = document.getElementById("body-errors-box");
    const errorsList = document.getElementById("body-errors");
    const errorCount = document.getElementById("error-count");
    const dirtyFlag = document.getElementById("dirty-flag");
    const basedOnLabel = document.getElementById("based-on");
    const detailsForm = document.getElementById("details-form");
    const examples = JSON.parse(document.getElementById("strategy-examples").textContent);

    let parsed = null; // last successful parse of the editor's text
    let bodyErrors = []; // [{pointer (into the body), detail, code}] of the last check
    let syntaxLine = null; // 0-based line of a JSON syntax error
    let lineCount = 0;
    let dirty = false;
    let basedOn = null;
    let tools = null;
    let versions = [];
    let reparseTimer = null;

    const metrics = getComputedStyle(editor);
    const lineHeight = parseFloat(metrics.lineHeight) || 20;
    const padTop = parseFloat(metrics.paddingTop) || 0;

    function setStatus(text, kind) {
      statusBox.replaceChildren(text ? el("span", { class: kind || "", text: text }) : "");
    }

    function setDirty(value) {
      dirty = value;
      dirtyFlag.hidden = !value || !canWrite;
    }

    function setBasedOn(number) {
      basedOn = number;
      basedOnLabel.textContent = number ? T.editingFrom + " v" + number : "";
      document.querySelectorAll("#versions-table tr[data-number]").forEach(function (row) {
        row.classList.toggle("current", Number(row.dataset.number) === number);
      });
    }

    function setText(text) {
      editor.value = text;
      editor.scrollTop = 0;
      reparse();
    }

    /* Re-read the text: keep the parse for mapping pointers, then redraw gutter and marks. */
    function reparse() {
      try {
        parsed = parseJson(editor.value);
        if (syntaxLine !== null) {
          syntaxLine = null;
          bodyErrors = bodyErrors.filter(function (e) { return !e.syntax; });
        }
      } catch (err) {
        if (!(err instanceof JsonSyntaxError)) throw err;
        parsed = null;
      }
      drawMarks();
    }

    function errorLines() {
      const byLine = new Map();
      bodyErrors.forEach(function (error) {
        const line = error.syntax ? error.line : parsed ? lineOf(parsed, error.pointer) : null;
        error.lineIndex = line;
        if (line === null || line === undefined) return;
        if (!byLine.has(line)) byLine.set(line, []);
        byLine.get(line).push(error.detail);
      });
      return byLine;
    }

    function drawMarks() {
      const count = editor.value.split("\n").length;
      if (count !== lineCount) {
        const rows = [];
        for (let k = 1; k <= count; k++) rows.push(el("div", { text: String(k) }));
        gutter.replaceChildren.apply(gutter, rows);
        lineCount = count;
      }
      const byLine = errorLines();
      gutter.querySelectorAll("div.err").forEach(function (row) {
        row.classList.remove("err");
        row.removeAttribute("title");
      });
      const bars = [];
      byLine.forEach(function (details, line) {
        const row = gutter.children[line];
        if (row) {
          row.classList.add("err");
          row.title = details.join("\n");
        }
        const bar = el("div", { class: "mark", "data-line": String(line + 1) });
        bar.style.top = padTop + line * lineHeight + "px";
        bars.push(bar);
      });
      marks.replaceChildren.apply(marks, bars);
      renderErrorList();
      syncScroll();
      updateHint();
    }

    function syncScroll() {
      const shift = "translateY(" + -editor.scrollTop + "px)";
      gutter.style.transform = shift;
      marks.style.transform = shift;
    }

    function renderErrorList() {
      errorsBox.hidden = bodyErrors.length === 0;
      errorCount.textContent = String(bodyErrors.length);
      // In the order of the text; errors without a line keep the API's order, at the end.
      const ordered = bodyErrors.slice().sort(function (a, b) {
        const la = a.lineIndex === null || a.lineIndex === undefined ? Infinity : a.lineIndex;
        const lb = b.lineIndex === null || b.lineIndex === undefined ? Infinity : b.lineIndex;
        return la === lb ? 0 : la < lb ? -1 : 1;
      });
      const items = ordered.map(function (error) {
        const line = error.lineIndex;
        const item = el("li", {
          "data-pointer": error.pointer || "",
          "data-line": line === null || line === undefined ? "" : String(line + 1),
        });
        if (line !== null && line !== undefined) {
          item.append(el("button", {
            type: "button", class: "link", text: T.line + " " + (line + 1),
            onclick: function () { goToLine(line); },
          }));
        }
        if (!error.syntax) item.append(el("code", { text: error.pointer || "/" }));
        item.append(el("span", { text: error.detail }));
        return item;
      });
      errorsList.replaceChildren.apply(errorsList, items);
    }

    function goToLine(line) {
      const rows = editor.value.split("\n");
      let start = 0;
      for (let k = 0; k < line && k < rows.length; k++) start += rows[k].length + 1;
      const end = start + (rows[line] || "").length;
      editor.focus();
      editor.setSelectionRange(start, end);
      editor.scrollTop = Math.max(0, line * lineHeight - editor.clientHeight / 2);
      syncScroll();
      updateHint();
    }

    function caretLine() {
      return editor.value.slice(0, editor.selectionStart).split("\n").length - 1;
    }

    /* Under the editor: the errors of the caret's line, else the schema's words for its field. */
    function updateHint() {
      const line = caretLine();
      const here = bodyErrors.filter(function (e) { return e.lineIndex === line; });
      hint.classList.toggle("err", here.length > 0);
      if (here.length) {
        hint.textContent = here.map(function (e) { return (e.pointer ? e.pointer + ": " : "") + e.detail; }).join(" · ");
        return;
      }
      if (!parsed || !tools) {
        hint.textContent = "";
        return;
      }
      let pointer = null;
      parsed.lines.forEach(function (row, p) {
        if (row === line && (pointer === null || p.length > pointer.length)) pointer = p;
      });
      const found = pointer !== null ? tools.at(pointer, parsed.value) : null;
      const text = found ? describe(found.node) : "";
      hint.textContent = text ? T.cursorHint + " — " + (found.name || "/") + ": " + text : T.noHint;
    }

    /* The body in the editor, or null after marking the syntax error. */
    function currentBody() {
      try {
        parsed = parseJson(editor.value);
        return parsed.value;
      } catch (err) {
        if (!(err instanceof JsonSyntaxError)) throw err;
        parsed = null;
        syntaxLine = err.line - 1;
        bodyErrors = [{
          syntax: true, pointer: "", line: syntaxLine,
          detail: T.syntaxError + ": " + err.message + " (" + T.line + " " + err.line + ", " + T.column + " " + err.column + ")",
        }];
        drawMarks();
        setStatus(T.syntaxError, "err");
        return null;
      }
    }

    /* Split a problem's errors: those in the body go to the editor, the rest to the form. */
    function showProblem(err) {
      const problem = err.problem || { detail: String(err), errors: [] };
      const inBody = [];
      const others = [];
      (problem.errors || []).forEach(function (item) {
        const pointer = item.pointer || "";
        if (pointer === "/body" || pointer.indexOf("/body/") === 0) {
          inBody.push({ pointer: pointer.slice(5), detail: item.detail, code: item.code });
        } else {
          others.push(item);
        }
      });
      bodyErrors = inBody;
      drawMarks();
      if (others.length && detailsForm) {
        BM.showProblem(detailsForm, { problem: Object.assign({}, problem, { errors: others }) });
      }
      const total = inBody.length + others.length;
      setStatus(total ? T.errorsFound + ": " + total : problem.detail || problem.title, "err");
    }

    function clearProblems() {
      bodyErrors = [];
      syntaxLine = null;
      if (detailsForm) BM.clearProblem(detailsForm);
      drawMarks();
    }

    async function run(button, busyText, work) {
      if (button) button.disabled = true;
      setStatus(busyText, "loading");
      try {
        await work();
      } catch (err) {
        if (!(err instanceof BM.ApiError)) throw err;
        showProblem(err);
      } finally {
        if (button) button.disabled = false;
      }
    }

    function validate(button) {
      const body = currentBody();
      if (body === null) return;
      return run(button, T.validating, async function () {
        const result = await BM.api("POST", API + "/validate", { body: body });
        clearProblems();
        setStatus(
          T.valid + " DSL v" + result.dsl_version + " · " + T.warmup + ": " + result.warmup +
          " · " + T.lookback + ": " + result.lookback, "ok"
        );
      });
    }

    function saveVersion(button) {
      const body = currentBody();
      if (body === null) return;
      return run(button, T.saving, async function () {
        const version = await BM.api("POST", API + "/" + strategyId + "/versions", { body: body });
        clearProblems();
        setDirty(false);
        const badge = document.getElementById("latest-badge");
        if (badge) badge.textContent = "v" + version.number;
        setStatus(T.savedVersion + " v" + version.number, "ok");
        await loadVersions();
        setBasedOn(version.number);
      });
    }

    function createStrategy(button) {
      const body = currentBody();
      if (body === null) return;
      const data = BM.formJson(detailsForm);
      return run(button, T.saving, async function () {
        const strategy = await BM.api("POST", API, {
          name: data.name || "", description: data.description || "", body: body,
        });
        setDirty(false);
        setStatus(T.created, "ok");
        window.location.assign("/strategies/" + strategy.id);
      });
    }

    function loadBody(body, number) {
      if (dirty && canWrite && !window.confirm(T.confirmReplace)) return;
      bodyErrors = [];
      setText(pretty(body));
      setDirty(false);
      setBasedOn(number || null);
      setStatus("", "");
    }

    /* -------- versions and diff */

    function renderVersions() {
      const table = document.getElementById("versions-table");
      const state = document.getElementById("versions-state");
      const rows = versions.map(function (v, index) {
        return el("tr", { "data-number": String(v.number) }, [
          el("td", { text: "v" + v.number + (index === 0 ? " (" + T.latest + ")" : "") }),
          el("td", { text: fmtTime(v.created_at) }),
          el("td", { text: v.created_by || "—" }),
          el("td", {}, [el("code", { title: v.body_sha256, text: v.body_sha256.slice(0, 12) })]),
          el("td", {}, [el("button", {
            type: "button", class: "link", "data-open": String(v.number), text: T.open,
            onclick: function () { loadBody(v.body, v.number); },
          })]),
        ]);
      });
      table.querySelector("tbody").replaceChildren.apply(table.querySelector("tbody"), rows);
      table.hidden = rows.length === 0;
      if (rows.length === 0) BM.state(state, "empty", T.noVersions);
      else state.replaceChildren();
      setBasedOn(basedOn);

      const from = document.getElementById("diff-from");
      const to = document.getElementById("diff-to");
      [from, to].forEach(function (select) {
        const options = versions.map(function (v) { return el("option", { value: String(v.number), text: "v" + v.number }); });
        select.replaceChildren.apply(select, options);
      });
      if (versions.length) {
        to.value = String(versions[0].number);
        from.value = String(versions[Math.min(1, versions.length - 1)].number);
      }
      document.getElementById("diff-button").disabled = versions.length < 2;
    }

    async function loadVersions() {
      const state = document.getElementById("versions-state");
      try {
        versions = await fetchAll(API + "/" + strategyId + "/versions?page_size=500");
      } catch (err) {
        BM.state(state, "alert error", T.loadError + " " + err.message);
        return;
      }
      renderVersions();
    }

    function showDiff(event) {
      event.preventDefault();
      const output = document.getElementById("diff-output");
      const state = document.getElementById("diff-state");
      const a = versions.find(function (v) { return String(v.number) === document.getElementById("diff-from").value; });
      const b = versions.find(function (v) { return String(v.number) === document.getElementById("diff-to").value; });
      if (!a || !b) {
        output.hidden = true;
        BM.state(state, "empty", T.pickTwo);
        return;
      }
      const rows = diffLines(pretty(a.body).split("\n"), pretty(b.body).split("\n"));
      const added = rows.filter(function (r) { return r.sign === "+"; }).length;
      const removed = rows.filter(function (r) { return r.sign === "-"; }).length;
      state.replaceChildren(el("p", {
        class: "muted", id: "diff-summary",
        text: "v" + a.number + " → v" + b.number + ": +" + added + " −" + removed +
          (added + removed === 0 ? " · " + T.same : ""),
      }));
      output.replaceChildren.apply(output, collapse(rows).map(function (r) {
        if (r.skip) return el("div", { class: "row skip" }, [el("span"), el("span"), el("span"), el("span", { text: "⋯ " + r.skip + " " + T.unchangedLines })]);
        const kind = r.sign === "+" ? "add" : r.sign === "-" ? "del" : "same";
        return el("div", { class: "row " + kind }, [
          el("span", { class: "n", text: String(r.a) }),
          el("span", { class: "n", text: String(r.b) }),
          el("span", { class: "sign", text: r.sign === "-" ? "−" : r.sign }),
          el("span", { text: r.text }),
        ]);
      }));
      output.hidden = false;
    }

    /* Keep three lines of context around changes; fold longer unchanged runs. */
    function collapse(rows) {
      const CONTEXT = 3;
      const near = rows.map(function () { return false; });
      rows.forEach(function (r, k) {
        if (r.sign === " ") return;
        for (let d = -CONTEXT; d <= CONTEXT; d++) if (rows[k + d]) near[k + d] = true;
      });
      const out = [];
      let run = 0;
      rows.forEach(function (r, k) {
        if (r.sign !== " " || near[k]) {
          if (run) out.push({ skip: run });
          run = 0;
          out.push(r);
        } else {
          run++;
        }
      });
      if (run) out.push({ skip: run });
      return out;
    }

    /* -------- wiring */

    editor.addEventListener("input", function () {
      setDirty(true);
      clearTimeout(reparseTimer);
      reparseTimer = setTimeout(reparse, 120);
      // The gutter must follow new lines at once, not after the pause.
      if (editor.value.split("\n").length !== lineCount) drawMarks();
    });
    editor.addEventListener("scroll", syncScroll);
    ["click", "keyup", "select", "focus"].forEach(function (name) {
      editor.addEventListener(name, updateHint);
    });
    document.getElementById("validate-button").addEventListener("click", function (e) { validate(e.currentTarget); });
    document.getElementById("format-button").addEventListener("click", function () {
      const body = currentBody();
      if (body === null) return;
      const keep = bodyErrors;
      setText(pretty(body));
      bodyErrors = keep;
      drawMarks();
      setDirty(true);
    });
    const saveButton = document.getElementById("save-version-button");
    if (saveButton) saveButton.addEventListener("click", function (e) { saveVersion(e.currentTarget); });
    const createButton = document.getElementById("create-button");
    if (createButton) createButton.addEventListener("click", function (e) { createStrategy(e.currentTarget); });
    document.querySelectorAll("#examples [data-example]").forEach(function (button) {
      button.addEventListener("click", function () {
        const example = examples.find(function (x) { return x.name === button.dataset.example; });
        if (example) {
          loadBody(example.body, null);
          setDirty(true);
        }
      });
    });
    window.addEventListener("beforeunload", function (event) {
      if (dirty && canWrite) {
        event.preventDefault();
        event.returnValue = "";
      }
    });

    if (strategyId && canWrite) {
      detailsForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        const data = BM.formJson(detailsForm);
        const status = document.getElementById("details-status");
        BM.clearProblem(detailsForm);
        try {
          const strategy = await BM.api("PATCH", API + "/" + strategyId, {
            name: data.name || "", description: data.description || "",
          });
          document.getElementById("strategy-title").firstChild.textContent = strategy.name + " ";
          document.title = strategy.name + " · BotMarket";
          status.textContent = T.detailsSaved;
        } catch (err) {
          if (!(err instanceof BM.ApiError)) throw err;
          BM.showProblem(detailsForm, err);
          status.textContent = "";
        }
      });
      document.getElementById("strategy-delete").addEventListener("click", async function () {
        if (!window.confirm(T.confirmDelete)) return;
        BM.clearProblem(detailsForm);
        try {
          await BM.api("DELETE", API + "/" + strategyId);
          setDirty(false);
          window.location.assign("/strategies");
        } catch (err) {
          if (!(err instanceof BM.ApiError)) throw err;
          BM.showProblem(detailsForm, err);
        }
      });
    } else if (detailsForm) {
      detailsForm.addEventListener("submit", function (event) { event.preventDefault(); });
    }

    // The body to start from: the latest version, or the starter example for a new strategy.
    const latestScript = document.getElementById("latest-body");
    if (latestScript) {
      setText(pretty(JSON.parse(latestScript.textContent)));
      setBasedOn(Number(root.dataset.latest) || null);
    } else {
      const starter = examples.find(function (x) { return x.name === root.dataset.starter; }) || examples[0];
      setText(starter ? pretty(starter.body) : "{}");
    }

    const reference = document.getElementById("reference");
    BM.api("GET", API + "/schema").then(function (schema) {
      tools = schemaTools(schema);
      renderReference(reference, schema, tools);
      updateHint();
    }, function (err) {
      BM.state(reference, "alert error", T.loadError + " " + err.message);
    });

    if (strategyId) {
      loadVersions();
      document.getElementById("diff-form").addEventListener("submit", showDiff);
    }
  }

  if (root.dataset.page === "strategies") listPage();
  else editorPage();
})();
