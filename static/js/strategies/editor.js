/* The editor page (/strategies/new, /strategies/<id>): validate, save a new version, create,
   the details form, the examples and the reference. A problem's errors under /body go to the
   editor's lines; the others go under the details form's fields. */

import { bodyEditor } from "bm/strategies/body-editor.js";
import { pretty } from "bm/strategies/json-lines.js";
import { renderReference, schemaTools } from "bm/strategies/schema.js";
import { versionsPanel } from "bm/strategies/versions.js";

const el = window.BM.el;

export function editorPage({ root, T, api: API }) {
  const canWrite = root.dataset.canWrite === "1";
  const strategyId = root.dataset.strategyId;
  const statusBox = document.getElementById("editor-status");
  const dirtyFlag = document.getElementById("dirty-flag");
  const basedOnLabel = document.getElementById("based-on");
  const detailsForm = document.getElementById("details-form");
  const examples = JSON.parse(document.getElementById("strategy-examples").textContent);

  let dirty = false;

  function setStatus(text, kind) {
    statusBox.replaceChildren(text ? el("span", { class: kind || "", text: text }) : "");
  }

  function setDirty(value) {
    dirty = value;
    dirtyFlag.hidden = !value || !canWrite;
  }

  const editor = bodyEditor(T, {
    onEdit: function () { setDirty(true); },
    onSyntaxError: function () { setStatus(T.syntaxError, "err"); },
  });
  const versions = strategyId ? versionsPanel({
    url: API + "/" + strategyId + "/versions?page_size=500",
    T: T,
    onOpen: function (v) { loadBody(v.body, v.number); },
  }) : null;

  function setBasedOn(number) {
    basedOnLabel.textContent = number ? T.editingFrom + " v" + number : "";
    if (versions) versions.markCurrent(number);
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
    editor.showErrors(inBody);
    if (others.length && detailsForm) {
      BM.showProblem(detailsForm, { problem: Object.assign({}, problem, { errors: others }) });
    }
    const total = inBody.length + others.length;
    setStatus(total ? T.errorsFound + ": " + total : problem.detail || problem.title, "err");
  }

  function clearProblems() {
    if (detailsForm) BM.clearProblem(detailsForm);
    editor.clearErrors();
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
    const body = editor.currentBody();
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
    const body = editor.currentBody();
    if (body === null) return;
    return run(button, T.saving, async function () {
      const version = await BM.api("POST", API + "/" + strategyId + "/versions", { body: body });
      clearProblems();
      setDirty(false);
      const badge = document.getElementById("latest-badge");
      if (badge) badge.textContent = "v" + version.number;
      setStatus(T.savedVersion + " v" + version.number, "ok");
      await versions.load();
      setBasedOn(version.number);
    });
  }

  function createStrategy(button) {
    const body = editor.currentBody();
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
    editor.load(pretty(body));
    setDirty(false);
    setBasedOn(number || null);
    setStatus("", "");
  }

  /* -------- wiring */

  document.getElementById("validate-button").addEventListener("click", function (e) { validate(e.currentTarget); });
  document.getElementById("format-button").addEventListener("click", function () {
    if (editor.reformat()) setDirty(true);
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
    editor.load(pretty(JSON.parse(latestScript.textContent)));
    setBasedOn(Number(root.dataset.latest) || null);
  } else {
    const starter = examples.find(function (x) { return x.name === root.dataset.starter; }) || examples[0];
    editor.load(starter ? pretty(starter.body) : "{}");
  }

  const reference = document.getElementById("reference");
  BM.api("GET", API + "/schema").then(function (schema) {
    const tools = schemaTools(schema);
    renderReference(reference, schema, tools, T);
    editor.useSchema(tools);
  }, function (err) {
    BM.state(reference, "alert error", T.loadError + " " + err.message);
  });

  if (versions) versions.load();
}
