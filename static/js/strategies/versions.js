/* A strategy's versions: the table (open one in the editor; the one the editor started from is
   highlighted) and the comparison of two versions as a line diff. */

import { collapse, diffLines } from "bm/strategies/diff.js";
import { pretty } from "bm/strategies/json-lines.js";

const el = window.BM.el;

/* Wire the versions table and the diff form. `url` lists the versions; `onOpen(version)` runs
   when the user opens one. */
export function versionsPanel({ url, T, onOpen }) {
  const table = document.getElementById("versions-table");
  const stateBox = document.getElementById("versions-state");
  let versions = [];
  let current = null;

  /* Highlight version `number` (or none) as the one the editor's text started from. */
  function markCurrent(number) {
    current = number;
    table.querySelectorAll("tr[data-number]").forEach(function (row) {
      row.classList.toggle("current", Number(row.dataset.number) === number);
    });
  }

  function render() {
    const rows = versions.map(function (v, index) {
      return el("tr", { "data-number": String(v.number) }, [
        el("td", { text: "v" + v.number + (index === 0 ? " (" + T.latest + ")" : "") }),
        el("td", { text: BM.time(v.created_at) }),
        el("td", { text: v.created_by || "—" }),
        el("td", {}, [el("code", { title: v.body_sha256, text: v.body_sha256.slice(0, 12) })]),
        el("td", {}, [el("button", {
          type: "button", class: "link", "data-open": String(v.number), text: T.open,
          onclick: function () { onOpen(v); },
        })]),
      ]);
    });
    BM.showTable(table, stateBox, rows, T.noVersions);
    markCurrent(current);

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

  async function load() {
    try {
      versions = await BM.fetchAll(url);
    } catch (err) {
      BM.state(stateBox, "alert error", T.loadError + " " + err.message);
      return;
    }
    render();
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

  document.getElementById("diff-form").addEventListener("submit", showDiff);
  return { load: load, markCurrent: markCurrent };
}
