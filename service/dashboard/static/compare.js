"use strict";
// Sweeps side by side: /compare?ids=<id>,<id>,… (at most MAX_SWEEPS). A table of the sweeps,
// each sweep's best trial's curve overlaid (GET /v1/sweeps/{id}/trials?order=score&limit=1),
// each one's best score (± std) and, per hyperparameter that two or more of them sweep, the
// best score at each of its values (from the results document's settings, or a large sweep's
// top_settings). Sweeps scored by different metrics are never put on one score axis: one set of
// score plots per metric, and a note. Sweeps still running are re-read every POLL_MS until all
// are finished.
(() => {
  const {el} = GS;
  const MAX_SWEEPS = 12;
  const MAX_POINTS = 1000;         // per curve, after downsampling
  const POLL_MS = 3000;
  const ID = /^[0-9a-f]{32}$/;
  // one colour per sweep (Okabe & Ito's, told apart with colour blindness, then Tableau's)
  const CATEGORICAL = ["#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9",
                       "#f0e442", "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#9467bd", "#17becf"];
  const $ = (x) => document.getElementById(x);
  const logFor = {};               // the log-scale choice per curve series, once the user made one
  let goals = new Map();           // metric → "min" | "max", from GET /v1/objectives
  let loading = false, timer = null;

  // --- the ids --------------------------------------------------------------------------------
  const given = (new URLSearchParams(window.location.search).get("ids") || "")
    .split(",").map((x) => x.trim()).filter(Boolean);
  const malformed = given.filter((x) => !ID.test(x));
  const valid = [...new Set(given.filter((x) => ID.test(x)))];
  const ids = valid.slice(0, MAX_SWEEPS);
  // each sweep's state; its colour is its place in the ids
  const sweeps = ids.map((id, i) => ({id, colour: CATEGORICAL[i % CATEGORICAL.length],
                                      view: null, top: null, results: null, missing: false,
                                      error: null}));

  // The view first (a 404: no such sweep, nothing more asked), then its best trial and its
  // results document together; a failed request keeps what was read before.
  async function load(s) {
    try {
      s.view = await GS.json(`/v1/sweeps/${s.id}`);
    } catch (e) {
      if (e.status === 404) s.missing = true; else s.error = "Could not load it: " + e.message;
      return;
    }
    s.error = null;
    const errors = [];
    await Promise.all([
      GS.json(`/v1/sweeps/${s.id}/trials?order=score&limit=1&curves=true`)
        .then((page) => { s.top = page.items[0] || null; })
        .catch((e) => errors.push("its best trial: " + e.message)),
      GS.json(`/v1/sweeps/${s.id}/results`)
        .then((doc) => { s.results = doc; })
        .catch((e) => errors.push("its results: " + e.message))]);
    if (errors.length) s.error = "Could not load " + errors.join("; ");
  }

  const catalogue = GS.json("/v1/objectives").then((entries) => {
    goals = new Map(entries.flatMap((e) => (e.metrics || []).map((m) => [m.name, m.goal])));
  }).catch(() => null);
  // sent at once, while plotly.js is still being parsed (it is the page's last script)
  const first = Promise.all(sweeps.map(load));
  const plotlyReady = new Promise((resolve) => {
    if (window.Plotly) resolve();
    else document.addEventListener("DOMContentLoaded", () => resolve());
  });

  // --- helpers --------------------------------------------------------------------------------
  const found = () => sweeps.filter((s) => s.view);
  const finished = (s) => !s.view || GS.finished(s.view.status);
  const metricOf = (s) => (s.results ? s.results.spec.metric : null);
  const bestOf = (s) => (s.results && s.results.best) || (s.view && s.view.best) || null;
  const settingsOf = (s) => (s.results ? s.results.settings || s.results.top_settings || [] : []);
  // what ranks best: "max" for a metric where higher is better (the accuracies, should the
  // catalogue be unreadable)
  const goal = (metric) => goals.get(metric) || (/accuracy/.test(metric || "") ? "max" : "min");
  const better = (metric) => (goal(metric) === "max" ? "higher" : "lower");

  // a sweep's name on the plots; the id's start is added when two sweeps share a name
  function label(s) {
    const same = found().filter((o) => o.view.name === s.view.name).length > 1;
    return same ? `${s.view.name} · ${s.id.slice(0, 6)}` : s.view.name;
  }

  function swatch(colour) {
    const sw = el("span", {class: "swatch"});
    sw.style.background = colour;
    return sw;
  }

  // a spec's entries (a comparing sweep's optimizers, else the spec itself)
  const entries = (spec) => (spec ? spec.optimizers || [spec] : []);
  const isSampled = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  // the distribution a hyperparameter is drawn from in a sweep ("log_uniform_values", …), or null
  function sampledFrom(s, name) {
    const value = entries(s.results && s.results.spec).map((e) => (e.grid || {})[name]).find(isSampled);
    return value ? value.distribution : null;
  }

  // the numeric hyperparameters with two or more values among a sweep's settings
  function sweptOf(s) {
    const values = new Map();
    for (const setting of settingsOf(s)) {
      for (const [k, v] of Object.entries(setting.params)) {
        if (typeof v !== "number") continue;
        if (!values.has(k)) values.set(k, new Set());
        values.get(k).add(v);
      }
    }
    return [...values].filter(([, set]) => set.size > 1).map(([k]) => k);
  }

  // the optimizer of a comparing sweep's best setting (its first trial's, by_optimizer's best)
  function bestOptimizer(s, best) {
    const by = (s.results && s.results.summary && s.results.summary.by_optimizer) || {};
    if (Object.keys(by).length < 2) return null;
    const hit = Object.entries(by).find(([, entry]) => entry.best && entry.best.trials[0] === best.trials[0]);
    return hit ? hit[0] : null;
  }

  // a numeric axis is log when its values are positive and span a factor of 20 or more
  const spansDecades = (xs) => xs.length > 1 && xs.every((x) => typeof x === "number" && x > 0) &&
    Math.max(...xs) / Math.min(...xs) >= 20;

  function ensurePlot(box, name) {
    return [...box.children].find((c) => c.dataset.plot === name) ||
           el("div", {class: "score-plot", "data-plot": name});
  }

  // --- messages -------------------------------------------------------------------------------
  function showMessages() {
    const out = [];
    const say = (kind, text, cls = "error") => out.push(el("p", {class: cls, "data-kind": kind, text}));
    if (!given.length) {
      say("none", "No sweeps to compare: tick two or more on the sweeps page, or give " +
                  "/compare?ids=<id>,<id>.", "muted");
    }
    for (const x of malformed) {
      say("malformed", `Not a sweep id: "${x}" (a sweep id is 32 hexadecimal digits, 0–9 and a–f).`);
    }
    if (valid.length > MAX_SWEEPS) {
      say("too-many", `At most ${MAX_SWEEPS} sweeps at once: comparing the first ${MAX_SWEEPS} of ${valid.length}.`);
    }
    for (const s of sweeps) {
      if (s.missing) say("unknown", `There is no sweep ${s.id}.`);
      else if (s.error) say("load-error", `Sweep ${s.id}: ${s.error}`);
    }
    if (valid.length === 1 && given.length) say("one", "Only one sweep: give another id to compare it with.", "muted");
    $("messages").replaceChildren(...out);
  }

  // --- table ----------------------------------------------------------------------------------
  function showTable() {
    $("compared").querySelector("tbody").replaceChildren(...found().map((s) => {
      const v = s.view, best = bestOf(s), metric = metricOf(s);
      const optimizer = best ? bestOptimizer(s, best) : null;
      const params = best ? Object.entries(best.params).map(([k, x]) => `${k}=${GS.num(x)}`).join(", ") : "";
      return el("tr", {"data-id": s.id, "data-status": v.status},
        el("td", {}, swatch(s.colour)),
        el("td", {class: "name"}, el("a", {href: "/sweeps/" + s.id, text: v.name})),
        el("td", {class: "objective", text: v.objective}),
        el("td", {class: "optimizer", text: v.optimizer}),
        el("td", {}, GS.statusBadge(v.status)),
        el("td", {class: "num trials", "data-done": v.progress.done, "data-total": v.progress.total,
                  text: `${v.progress.done} / ${v.progress.total}`}),
        el("td", {class: "metric", "data-metric": metric, title: metric ? `${better(metric)} is better` : null,
                  text: metric ? `${metric} (${better(metric)} is better)` : "—"}),
        el("td", {class: "num score", "data-value": best ? best.score : null,
                  text: best ? GS.num(best.score) : "none yet"}),
        el("td", {class: "num muted std", "data-value": best ? best.score_std : null,
                  text: best ? "± " + GS.num(best.score_std) : ""}),
        el("td", {class: "params", "data-params": best ? JSON.stringify(best.params) : null},
           optimizer ? el("strong", {text: optimizer + ": "}) : null, params || "—"));
    }));
    const shown = found();
    const metrics = [...new Set(shown.map(metricOf).filter(Boolean))];
    const objectives = [...new Set(shown.map((s) => s.view.objective))];
    const running = shown.filter((s) => !finished(s)).length;
    const notes = [];
    if (metrics.length > 1) {
      notes.push(`These sweeps are scored by different metrics (${metrics.join(", ")}): their scores ` +
                 "are not comparable, so each metric has its own score plots.");
    }
    if (objectives.length > 1) notes.push(`Different objectives (${objectives.join(", ")}): their losses differ in scale.`);
    if (running) {
      notes.push(`${running} of ${shown.length} sweeps still running: what they saved so far, ` +
                 `re-read every ${POLL_MS / 1000} s.`);
    }
    $("metric-note").textContent = notes.join(" ");
    $("metric-note").dataset.metrics = metrics.join(",");
  }

  // --- curves ---------------------------------------------------------------------------------
  // the series the best trials' curves hold beside step: loss, and a model's validation series
  function curveSeries() {
    const names = ["loss"];
    for (const s of found()) {
      for (const [k, v] of Object.entries((s.top && s.top.curve) || {})) {
        if (k !== "step" && Array.isArray(v) && !names.includes(k)) names.push(k);
      }
    }
    return names;
  }
  const logDefault = (series) => (series in logFor ? logFor[series] : !/accuracy/.test(series));

  function drawCurves() {
    const series = curveSeries();
    const choice = $("curve-choice");
    if ([...choice.options].map((o) => o.value).join() !== series.join()) {
      const kept = choice.value;
      choice.replaceChildren(...series.map((n) => el("option", {value: n, text: n})));
      if (series.includes(kept)) choice.value = kept;
    }
    const name = choice.value || "loss";
    const without = [];
    const traces = found().flatMap((s) => {
      const curve = s.top && s.top.curve;
      if (!curve || !Array.isArray(curve[name])) { without.push(label(s)); return []; }
      const [xs, ys] = GS.downsample(curve.step, curve[name], MAX_POINTS);
      const params = Object.entries(s.top.params).map(([k, v]) => `${k}=${GS.num(v)}`).join(", ");
      const title = `${label(s)}<br>trial ${s.top.index} ${s.top.optimizer} (seed ${s.top.seed})<br>${params}`;
      return [{type: "scatter", mode: "lines", x: xs, y: ys, name: label(s),
               line: {color: s.colour, width: 2.5}, meta: {sweep: s.id, trial: s.top.index},
               customdata: ys.map((y) => GS.num(y)),
               hovertemplate: title + `<br>step %{x}<br>${name} %{customdata}<extra></extra>`}];
    });
    Plotly.react("curves", traces, {
      margin: {l: 60, r: 20, t: 10, b: 45}, hovermode: "closest", showlegend: true,
      legend: {orientation: "h", x: 0, y: 1.02, yanchor: "bottom"},
      xaxis: {title: {text: "step"}},
      yaxis: {title: {text: name}, type: $("log-y").checked ? "log" : "linear"}},
    {responsive: true, displaylogo: false});
    $("curve-note").textContent = "each sweep's best trial (by its metric)" +
      (without.length ? ` · no ${name} curve yet: ${without.join(", ")}` : "");
  }

  // --- scores ---------------------------------------------------------------------------------
  // Per metric: the sweeps' best scores (a dot ± std each), then per hyperparameter two or more
  // of them sweep, the best score at each of its values (over the other hyperparameters).
  function drawScores() {
    const box = $("scores");
    const groups = new Map();
    for (const s of found()) {
      const metric = metricOf(s);
      if (!metric) continue;
      if (!groups.has(metric)) groups.set(metric, []);
      groups.get(metric).push(s);
    }
    const plans = [...groups].flatMap(([metric, members]) => {
      const counts = new Map();
      for (const s of members) for (const k of sweptOf(s)) counts.set(k, (counts.get(k) || 0) + 1);
      const shared = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
      return [{kind: "best", metric, members}, ...shared.map((param) => ({
        kind: "param", metric, param, members: members.filter((s) => sweptOf(s).includes(param))}))];
    });
    // in the page before Plotly draws them: a detached div has no size
    const divs = plans.map((p) => ensurePlot(box, p.kind === "best" ? `best:${p.metric}` : `param:${p.metric}:${p.param}`));
    box.replaceChildren(...divs);
    const partial = found().filter((s) => s.results && !s.results.settings && s.results.top_settings);
    $("score-note").textContent = !plans.length ? "no scores yet" : partial.length
      ? "Large sweeps, their best settings only: " +
        partial.map((s) => `${label(s)} (${s.results.top_settings.length})`).join(", ") + "." : "";
    plans.forEach((p, i) => {
      const scoreTitle = `${p.metric} (${better(p.metric)} is better)`;
      if (p.kind === "best") drawBest(divs[i], p, scoreTitle);
      else drawByParam(divs[i], p, scoreTitle);
    });
  }

  function drawBest(div, plan, scoreTitle) {
    const scored = plan.members.filter((s) => bestOf(s));
    const scores = scored.map((s) => bestOf(s).score);
    Plotly.react(div, [{
      type: "scatter", mode: "markers", x: scored.map(label), y: scores,
      customdata: scored.map((s) => s.id), meta: {metric: plan.metric},
      text: scores.map((v, i) => `best score ${GS.num(v)} ± ${GS.num(bestOf(scored[i]).score_std)}`),
      marker: {color: scored.map((s) => s.colour), size: 12},
      error_y: {type: "data", array: scored.map((s) => bestOf(s).score_std), visible: true},
      hovertemplate: "%{x}<br>%{text}<extra></extra>"}], {
      margin: {l: 60, r: 20, t: 30, b: 60}, showlegend: false,
      title: {text: `best score of each sweep (${plan.metric})`, font: {size: 13}},
      xaxis: {type: "category", automargin: true, range: [-0.5, scored.length - 0.5]},
      yaxis: {title: {text: scoreTitle}, type: spansDecades(scores) && Math.max(...scores) / Math.min(...scores) >= 100 ? "log" : "linear"}},
    {responsive: true, displaylogo: false});
  }

  function drawByParam(div, plan, scoreTitle) {
    const name = plan.param;
    const max = goal(plan.metric) === "max";
    const traces = plan.members.map((s) => {
      const byValue = new Map();
      for (const setting of settingsOf(s)) {
        const v = setting.params[name];
        if (setting.score === null || typeof v !== "number") continue;
        const held = byValue.get(v);
        if (!held || (max ? setting.score > held.score : setting.score < held.score)) byValue.set(v, setting);
      }
      const xs = [...byValue.keys()].sort((a, b) => a - b);
      return {type: "scatter", mode: sampledFrom(s, name) ? "markers" : "lines+markers", name: label(s),
              x: xs, y: xs.map((v) => byValue.get(v).score), meta: {sweep: s.id, param: name},
              text: xs.map((v) => `${name}=${GS.num(v)}<br>best score ${GS.num(byValue.get(v).score)}`),
              line: {color: s.colour}, marker: {color: s.colour},
              error_y: {type: "data", array: xs.map((v) => byValue.get(v).score_std), visible: true},
              hovertemplate: `${label(s)}<br>%{text}<extra></extra>`};
    });
    const log = plan.members.some((s) => sampledFrom(s, name) === "log_uniform_values") ||
      spansDecades(traces.flatMap((t) => t.x));
    Plotly.react(div, traces, {
      margin: {l: 60, r: 20, t: 30, b: 45}, showlegend: true,
      legend: {orientation: "h", x: 0, y: -0.22},
      title: {text: `best score by ${name} (${plan.metric})`, font: {size: 13}},
      xaxis: {title: {text: name}, type: log ? "log" : "linear"}, yaxis: {title: {text: scoreTitle}}},
    {responsive: true, displaylogo: false});
  }

  // --- loading --------------------------------------------------------------------------------
  function render() {
    showMessages();
    showTable();
    if (!found().length) return;
    drawCurves();
    drawScores();
  }

  // the sweeps still running (all of them: a reload) read again, then drawn; again in POLL_MS
  // while any is running
  async function refresh(all) {
    if (loading) return;
    loading = true;
    clearTimeout(timer);
    try {
      await Promise.all(sweeps.filter((s) => all || (s.view && !finished(s))).map(load));
      render();
    } finally { loading = false; }
    schedule();
  }

  function schedule() {
    const running = found().some((s) => !finished(s));
    $("live").textContent = running ? `re-read every ${POLL_MS / 1000} s while a sweep runs` : "";
    if (running) timer = setTimeout(() => refresh(false), POLL_MS);
  }

  async function start() {
    $("reload").addEventListener("click", () => refresh(true));
    GS.watchLayout();
    $("log-y").addEventListener("change", () => {
      logFor[$("curve-choice").value || "loss"] = $("log-y").checked;
      if (window.Plotly && $("curves").data) Plotly.relayout("curves", {"yaxis.type": $("log-y").checked ? "log" : "linear"});
    });
    $("curve-choice").addEventListener("change", () => {
      $("log-y").checked = logDefault($("curve-choice").value);
      drawCurves();
    });
    if (ids.length) document.title = `gradsweep — compare ${ids.length} sweeps`;
    showMessages();
    await Promise.all([first, catalogue, plotlyReady]);
    render();
    document.body.dataset.ready = "1";
    schedule();
  }

  start();
})();
