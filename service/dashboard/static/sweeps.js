"use strict";
// The sweeps page: GET /v1/sweeps (newest first), filtered by status, refreshed every 2 s.
// A checkbox per row selects sweeps (kept across refreshes and pages) for /compare?ids=….
(() => {
  const {el} = GS;
  const REFRESH_MS = 2000;
  const params = new URLSearchParams(window.location.search);
  const filter = document.getElementById("status-filter");
  const tbody = document.querySelector("#sweeps tbody");
  const summary = document.getElementById("summary");
  const error = document.getElementById("load-error");
  const compareButton = document.getElementById("compare");
  const selection = document.getElementById("selection");
  const COMPARE_MAX = 12;          // as many sweeps as /compare draws
  const selected = [];             // the ticked sweeps' ids, in the order they were ticked
  let offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  let limit = 20, total = 0;
  filter.value = params.get("status") || "";

  function showSelection() {
    const n = selected.length;
    compareButton.disabled = n < 2 || n > COMPARE_MAX;
    compareButton.textContent = n ? `Compare selected (${n})` : "Compare selected";
    selection.textContent = n > COMPARE_MAX ? `at most ${COMPARE_MAX} sweeps at once`
      : n === 1 ? "tick one more to compare" : "";
  }

  function toggle(id, on) {
    const at = selected.indexOf(id);
    if (on && at < 0) selected.push(id);
    if (!on && at >= 0) selected.splice(at, 1);
    showSelection();
  }

  function row(s) {
    return el("tr", {"data-id": s.id},
      el("td", {}, el("input", {type: "checkbox", class: "select-sweep", "data-id": s.id,
                                "aria-label": "select " + s.name, checked: selected.includes(s.id),
                                onchange: (e) => toggle(s.id, e.target.checked)})),
      el("td", {}, el("a", {href: "/sweeps/" + encodeURIComponent(s.id), text: s.name})),
      el("td", {text: s.optimizer}),
      el("td", {text: s.objective}),
      el("td", {}, GS.statusBadge(s.status)),
      el("td", {}, GS.progressBar(s.progress.done, s.progress.total)),
      el("td", {text: GS.time(s.created_at)}),
      el("td", {class: "num", text: s.best ? GS.num(s.best.score) : "—"}));
  }

  async function refresh() {
    const query = new URLSearchParams({offset: String(offset)});
    if (filter.value) query.set("status", filter.value);
    try {
      const page = await GS.json("/v1/sweeps?" + query);
      limit = page.limit; total = page.total;
      tbody.replaceChildren(...page.items.map(row));
      if (!page.items.length) {
        tbody.append(el("tr", {}, el("td", {colspan: 8, class: "muted",
          text: filter.value ? `No ${filter.value} sweeps.` : "No sweeps yet."})));
      }
      const last = Math.min(offset + page.items.length, total);
      summary.textContent = total ? `${offset + 1}–${last} of ${total}` : "";
      error.textContent = "";
    } catch (e) {
      error.textContent = "Could not load the sweeps: " + e.message;
    }
    document.getElementById("newer").disabled = offset === 0;
    document.getElementById("older").disabled = offset + limit >= total;
  }

  function go() {
    const query = new URLSearchParams();
    if (filter.value) query.set("status", filter.value);
    if (offset) query.set("offset", String(offset));
    history.replaceState(null, "", query.toString() ? "/?" + query : "/");
    refresh();
  }

  compareButton.addEventListener("click", () => {
    if (selected.length >= 2) window.location.href = "/compare?ids=" + selected.join(",");
  });
  filter.addEventListener("change", () => { offset = 0; go(); });
  document.getElementById("newer").addEventListener("click", () => { offset = Math.max(0, offset - limit); go(); });
  document.getElementById("older").addEventListener("click", () => { offset += limit; go(); });
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
})();
