/* The strategy language's JSON Schema, read for people: what the field at a pointer means (the
   hint under the editor) and the reference panel beside it. */

import { unescapeToken } from "bm/strategies/json-lines.js";

const el = window.BM.el;

export function schemaTools(schema) {
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

/* A node's description, with its allowed values when the description does not list them. */
export function describe(node) {
  if (!node) return "";
  let text = node.description || "";
  if (node.enum && text.indexOf(String(node.enum[0])) < 0) {
    text += (text ? " " : "") + "[" + node.enum.join(", ") + "]";
  }
  return text;
}

/* The reference panel: body fields, indicators, conditions, operands, exits, sizing. */
export function renderReference(container, schema, tools, T) {
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
