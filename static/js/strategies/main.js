/* Strategy pages: the list (/strategies) and the editor (/strategies/new, /strategies/<id>).
   Everything is read and saved through the REST API with BM.api. The modules, by concern:
     list.js         the list page
     editor.js       the editor page: validate, save, create, details, examples, reference
     body-editor.js  the textarea with its gutter, error marks, error list and cursor hint
     json-lines.js   the JSON parser that remembers each value's line (pointer → line)
     schema.js       the JSON Schema read for people: field hints and the reference panel
     versions.js     the versions table and the diff of two versions (diff.js)
   templates/strategies/_scripts.html maps each module's name to its (hashed) static URL. */

import { editorPage } from "bm/strategies/editor.js";
import { listPage } from "bm/strategies/list.js";

const API = "/api/v1/strategies";
const root = document.querySelector("#strategies-page, #editor-page");
if (root) {
  const T = JSON.parse(document.getElementById("strategies-texts").textContent);
  if (root.dataset.page === "strategies") listPage({ T: T, api: API });
  else editorPage({ root: root, T: T, api: API });
}
