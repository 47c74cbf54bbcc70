/* JSON text with lines: a small parser that remembers the line of every value, so an error's
   JSON pointer from the API (`/indicators/0/period`) can be marked on the line where that value
   is written. A pointer to a missing field falls back to the line of the object that lacks it. */

/* A JSON pointer token: "~" and "/" escaped (RFC 6901). */
export function escapeToken(token) {
  return String(token).replace(/~/g, "~0").replace(/\//g, "~1");
}

export function unescapeToken(token) {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

export class JsonSyntaxError extends Error {
  constructor(message, line, column) {
    super(message);
    this.line = line;
    this.column = column;
  }
}

/* Parse JSON text; return {value, lines} where lines maps each JSON pointer to the 0-based
   line its value (or its key, inside an object) starts on. Throws JsonSyntaxError with the
   position of the first problem, worded with `messages` (the page's texts). Duplicate keys are
   an error: JSON.parse would silently keep the last one, and the server would never see the
   first. */
export function parseJson(text, messages) {
  const T = messages;
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
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/* The line of `pointer` in a parse result; a missing field falls back to its parent. */
export function lineOf(parsed, pointer) {
  let p = pointer;
  for (;;) {
    if (parsed.lines.has(p)) return parsed.lines.get(p);
    if (!p) return 0;
    p = p.slice(0, p.lastIndexOf("/"));
  }
}
