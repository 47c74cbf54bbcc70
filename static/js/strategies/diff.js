/* Line diff of two bodies, and folding of the unchanged runs between changes. */

/* Longest-common-subsequence line diff: [{sign: " "|"-"|"+", a, b, text}]. Bodies are bounded
   by the schema (a few hundred lines), so the quadratic table stays small. */
export function diffLines(a, b) {
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

/* Keep `context` lines around changes; a longer unchanged run becomes one {skip: count} row. */
export function collapse(rows, context = 3) {
  const near = rows.map(function () { return false; });
  rows.forEach(function (r, k) {
    if (r.sign === " ") return;
    for (let d = -context; d <= context; d++) if (rows[k + d]) near[k + d] = true;
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
