/* The strategies list (/strategies): every strategy of the workspace with its latest version. */

const el = window.BM.el;

export async function listPage({ T, api: API }) {
  const table = document.getElementById("strategies-table");
  const state = document.getElementById("strategies-state");
  let strategies;
  try {
    strategies = await BM.fetchAll(API + "?page_size=500");
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
      el("td", { text: BM.time(s.updated_at) }),
      el("td", { text: s.created_by || "—" }),
    ]);
  });
  BM.showTable(table, state, rows, T.noStrategies);
}
