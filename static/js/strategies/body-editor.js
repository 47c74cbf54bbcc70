/* The body editor and how it shows validation: a textarea with a line gutter, a mark on every
   line that has an error (the marks follow the text while it is edited), the list of errors
   (each a button to its line) and, under the editor, the errors of the caret's line or the
   schema's words for the field there. */

import { JsonSyntaxError, lineOf, parseJson, pretty } from "bm/strategies/json-lines.js";
import { describe } from "bm/strategies/schema.js";

const el = window.BM.el;

/* Wire the editor of the page. `onEdit` runs on every keystroke, `onSyntaxError` when the body
   is asked for while the text is not JSON (the error is marked at its line already). */
export function bodyEditor(T, { onEdit, onSyntaxError }) {
  const editor = document.getElementById("body-editor");
  const gutter = document.getElementById("gutter-lines");
  const marks = document.getElementById("marks");
  const hint = document.getElementById("cursor-hint");
  const errorsBox = document.getElementById("body-errors-box");
  const errorsList = document.getElementById("body-errors");
  const errorCount = document.getElementById("error-count");

  let parsed = null; // last successful parse of the editor's text
  let bodyErrors = []; // [{pointer (into the body), detail, code}] of the last check
  let syntaxLine = null; // 0-based line of a JSON syntax error
  let lineCount = 0;
  let tools = null; // schemaTools once the schema has arrived
  let reparseTimer = null;

  const metrics = getComputedStyle(editor);
  const lineHeight = parseFloat(metrics.lineHeight) || 20;
  const padTop = parseFloat(metrics.paddingTop) || 0;

  function setText(text) {
    editor.value = text;
    editor.scrollTop = 0;
    reparse();
  }

  /* Re-read the text: keep the parse for mapping pointers, then redraw gutter and marks. */
  function reparse() {
    try {
      parsed = parseJson(editor.value, T);
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
      parsed = parseJson(editor.value, T);
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
      onSyntaxError();
      return null;
    }
  }

  editor.addEventListener("input", function () {
    onEdit();
    clearTimeout(reparseTimer);
    reparseTimer = setTimeout(reparse, 120);
    // The gutter must follow new lines at once, not after the pause.
    if (editor.value.split("\n").length !== lineCount) drawMarks();
  });
  editor.addEventListener("scroll", syncScroll);
  ["click", "keyup", "select", "focus"].forEach(function (name) {
    editor.addEventListener(name, updateHint);
  });

  return {
    currentBody: currentBody,

    /* Replace the text (and forget the errors) with `text`. */
    load: function (text) {
      bodyErrors = [];
      setText(text);
    },

    /* Mark `errors` ({pointer into the body, detail, code}) at their lines. */
    showErrors: function (errors) {
      bodyErrors = errors;
      drawMarks();
    },

    clearErrors: function () {
      bodyErrors = [];
      syntaxLine = null;
      drawMarks();
    },

    /* Lay the body out as it is saved, keeping the marks; false when the text is not JSON. */
    reformat: function () {
      const body = currentBody();
      if (body === null) return false;
      const keep = bodyErrors;
      setText(pretty(body));
      bodyErrors = keep;
      drawMarks();
      return true;
    },

    /* The schema arrived: the hint can name fields from now on. */
    useSchema: function (schemaTools) {
      tools = schemaTools;
      updateHint();
    },
  };
}
