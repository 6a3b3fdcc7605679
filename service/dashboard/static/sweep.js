"use strict";
// One sweep: header and progress, best setting, curves (loss, and a model's val_loss and
// val_accuracy), score plots, sortable trials. A sweep comparing optimizers (spec.optimizers)
// colours its curves by optimizer, lists each one's best (summary.by_optimizer) and gives the
// trials an optimizer column. A sweep with early stopping (spec.pruning) draws its rungs on the
// curves, ends each pruned trial's curve with a cross and says what the pruning saved. A
// metric's direction (lower or higher is better) is the catalogue's. Live over /v1/sweeps/{id}/events; polling every 2 s when the stream is
// unavailable.
// The curves never draw every trial of a large sweep: quantile bands of all the curves and a
// sample of ~200 of them (GET /v1/sweeps/{id}/overview, computed by the server from per-chunk
// sketches), and the best trials (GET /v1/sweeps/{id}/trials?order=score) drawn thick; a sweep
// of up to 200 trials is its own sample. A numeric hyperparameter with many values colours the
// curves through a colour bar, the y range holds the curves' bulk (a toggle: all of it), and a
// click on a table row highlights its trial's curve. Every plot is refitted to its card when the
// layout changes. The trials table is paged from GET /v1/sweeps/{id}/trials,
// never built from the results document's trials. The first draw waits for nothing else: every
// request is sent before plotly.js is evaluated, and the results document is read once the
// curves are painted.
(() => {
  const {el} = GS;
  const MAX_POINTS = 200;          // per trial curve, after downsampling
  const RESULTS_MIN_MS = 2000;     // the results document is re-read at most this often
  const POLL_MS = 2000;
  const PALETTE = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
                   "#35b779", "#6ece58", "#b5de2b", "#fde725"];
  // one colour per optimizer (Okabe & Ito's, told apart with colour blindness, then Tableau's)
  const CATEGORICAL = ["#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9",
                       "#f0e442", "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#9467bd", "#17becf"];
  const MISSING = "#c4c4c4";       // a trial without the hyperparameter the curves are coloured by
  const MERGE_OVER = 60;           // more thin curves than this: one trace per colour, not per trial
  const TOP = 10;                  // the best trials drawn thick
  const LEGEND_MAX = 8;            // values a legend lists; a number with more gets a colour bar
  const PAGE = 50;                 // rows of the trials table per page
  const PRUNED_COUNTED = 5000;     // a summary document's pruned trials read for the per-rung counts
  const match = window.location.pathname.match(/^\/sweeps\/([0-9a-f]{32})\/?$/);
  const id = match ? match[1] : null;
  const $ = (x) => document.getElementById(x);
  let view = null, results = null, sortKey = "index", sortDir = 1;
  let resultsAt = 0, resultsTimer = null, plotted = "";
  let goals = new Map();           // metric → "min" | "max", from GET /v1/objectives
  let chosen = null;               // the optimizer whose best trials are highlighted, if any
  const hidden = new Set();        // the optimizers whose curves are hidden (a click on the legend)
  const logFor = {};               // the log-scale choice per curve, once the user made one
  let overviewDoc = null;          // GET …/overview: bands, counts, sample
  let top = [];                    // the best trials by score, with their curves
  const table = {order: "index", status: "", cursors: [null], items: [], next: null, total: null};
  let prunedPages = null;          // a summary document's pruned trials, read for the per-rung counts
  let highlight = null;            // the trial whose curve a click on its table row highlights
  let lit = null;                  // that trial, read with its curve when nothing drawn holds it
  let curveValues = [];            // the drawn curves' values, for the y range

  // Asked at once, while plotly.js is still being parsed: the sweep, the catalogue, the
  // overview and the best trials (all the first draw needs), the first page of the table, and
  // the results document, whose body is read only after the first draw (it inlines every trial
  // of a sweep of up to 10,000: megabytes to parse).
  const settle = (promise) => promise.then((value) => ({value}), (error) => ({error}));
  const early = id ? {
    view: settle(GS.json(`/v1/sweeps/${id}`)),
    catalogue: GS.json("/v1/objectives").catch(() => null),
    overview: GS.json(`/v1/sweeps/${id}/overview`).catch(() => null),
    top: GS.json(`/v1/sweeps/${id}/trials?order=score&limit=${TOP}&curves=true`)
      .then((page) => page.items).catch(() => []),
    table: settle(GS.json(`/v1/sweeps/${id}/trials?` + tableQuery())),
    results: settle(GS.api(`/v1/sweeps/${id}/results`)),
  } : null;
  // plotly.js is the page's last script: ready at DOMContentLoaded
  const plotlyReady = new Promise((resolve) => {
    if (window.Plotly) resolve();
    else document.addEventListener("DOMContentLoaded", () => resolve());
  });
  // two animation frames: what was drawn before has been painted
  const painted = () => new Promise((resolve) =>
    requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(resolve, 0))));

  // the trials the curves draw: the sample, the best, and the best setting's (or the chosen
  // optimizer's) trials when the results document holds them; every trial without an overview
  function drawnTrials() {
    if (!overviewDoc) return (results && results.trials) || [];
    const byIndex = new Map();
    for (const t of overviewDoc.sample) byIndex.set(t.index, t);
    for (const t of top) byIndex.set(t.index, t);
    if (lit && lit.index === highlight) byIndex.set(lit.index, lit);
    const want = new Set(thickSet().concat(highlight === null ? [] : [highlight]));
    if (results && results.trials && want.size) {
      for (const t of results.trials) if (want.has(t.index) && !byIndex.has(t.index)) byIndex.set(t.index, t);
    }
    return [...byIndex.values()].sort((a, b) => a.index - b.index);
  }
  // the document the curves read: the results, or what is known before they arrive
  const doc = () => results || {spec: null, trials: drawnTrials(), summary: null, best: view && view.best,
                                 progress: view ? view.progress : {done: 0, total: 0}};
  const allTrials = (d) => d.trials || drawnTrials();
  // thick: the highlighted optimizer's best trials, else each optimizer's best when comparing,
  // else the best setting's and the best trials by score
  function thickSet() {
    const d = results || {summary: null, trials: []};
    if (chosen) return bestTrials(d, chosen);
    if (results && compares(results)) return optimizerNames(results).flatMap((n) => bestTrials(results, n));
    const best = (results && results.best) || (view && view.best);
    return (best ? best.trials : []).concat(top.map((t) => t.index));
  }

  // what ranks best: "max" for a metric where higher is better; the accuracies are, should the
  // catalogue be unreadable
  function goal(metric) {
    return goals.get(metric) || (/accuracy/.test(metric || "") ? "max" : "min");
  }
  const metric = () => (results ? results.spec.metric : overviewDoc ? overviewDoc.metric : null);
  // an accuracy lies in [0, 1]: linear unless the user asks for log
  const logDefault = (series) => (series in logFor ? logFor[series] : !/accuracy/.test(series));

  function fail(message) { $("load-error").textContent = message; }

  // --- header -----------------------------------------------------------------------------
  function showView(v) {
    view = v;
    document.title = "gradsweep — " + v.name;
    $("title").textContent = v.name;
    $("status").replaceChildren(GS.statusBadge(v.status));
    $("progress").replaceChildren(GS.progressBar(v.progress.done, v.progress.total));
    $("cancel").hidden = GS.finished(v.status);
    const parts = [`${v.optimizer} on ${v.objective}`].concat(results ? chain(results.spec) : [],
                                                             ["created " + GS.time(v.created_at)]);
    if (v.finished_at) parts.push("finished " + GS.time(v.finished_at));
    if (v.error) parts.push("error: " + v.error);
    $("meta").textContent = parts.join(" · ");
    showBest(v.best);
  }

  // a single-form sweep's schedule and clipping, for the header
  function chain(spec) {
    const out = [];
    if (spec.schedule) out.push("schedule " + spec.schedule.name);
    const clip = Object.entries(spec.clip || {}).filter(([, v]) => v !== null);
    if (clip.length) out.push("clip " + clip.map(([k, v]) => `${k} ${valueText(v)}`).join(", "));
    return out;
  }

  function showBest(best) {
    if (!best) { $("best").replaceChildren(el("span", {class: "muted", text: "none yet"})); return; }
    // comparing optimizers: the best setting's optimizer first (its trials say which)
    const trial = results && compares(results) && allTrials(results).find((t) => t.index === best.trials[0]);
    const rows = (trial ? [el("tr", {}, el("th", {text: "optimizer"}),
      el("td", {id: "best-optimizer", "data-optimizer": trial.optimizer}, swatch(optimizerColours(results).get(trial.optimizer)),
         trial.optimizer))] : []).concat(Object.entries(best.params).map(([name, value]) =>
      el("tr", {}, el("th", {text: name}),
         el("td", {class: "num", "data-param": name, "data-value": value, text: GS.num(value)}))));
    const m = metric();
    $("best").replaceChildren(
      el("table", {id: "best-params", style: "width:auto"}, el("tbody", {}, ...rows)),
      el("p", {}, "score ", el("strong", {id: "best-score", "data-value": best.score,
                                          text: GS.num(best.score)}),
         " ± " + GS.num(best.score_std) + " over " + trialsText(best)),
      m ? el("p", {id: "best-metric", class: "muted", "data-metric": m, "data-goal": goal(m),
                   text: `metric ${m}: ${goal(m) === "max" ? "higher" : "lower"} is better`})
        : null);
  }

  // a status view lists a best point's first trials only; n_trials counts them all
  function trialsText(best) {
    const shown = best.trials.slice(0, 10);
    const n = best.n_trials ?? best.trials.length;
    if (n <= shown.length) return "trials " + shown.join(", ");
    return `${n} trials: ${shown.join(", ")}, …`;
  }

  // --- importance ---------------------------------------------------------------------------
  // summary.importance: {hyperparameter: share in [0, 1]} for each swept one; sorted descending
  // (ties in grid order), a bar and a percentage each; the panel is hidden when there is none.
  function pct(share) { return (100 * share).toFixed(1) + " %"; }

  function showImportance(doc) {
    const shares = (doc && doc.summary && doc.summary.importance) || {};
    const entries = Object.entries(shares).filter(([, v]) => typeof v === "number")
      .sort((a, b) => b[1] - a[1]);
    $("importance-panel").hidden = entries.length === 0;
    $("importance").querySelector("tbody").replaceChildren(...entries.map(([name, share]) => {
      const clipped = Math.min(1, Math.max(0, share));
      const fill = el("div", {class: "fill"});
      fill.style.width = (100 * clipped) + "%";
      return el("tr", {"data-param": name, "data-share": share},
        el("th", {text: name}),
        el("td", {}, el("div", {class: "imp-bar", role: "img", "aria-label": `${name}: ${pct(share)}`},
                        fill)),
        el("td", {class: "num imp-pct", text: pct(share)}));
    }));
  }

  // --- early stopping -----------------------------------------------------------------------
  // spec.pruning = {kind, min_steps, reduction}: the rungs are r, r·η, r·η², … below steps (as
  // optimizers.pruning's ladder); a trial the rung stopped is "pruned" with pruned_at, its
  // curve ending there; summary.trial_steps against summary.full_trial_steps is the cost.
  const KINDS = {successive_halving: "successive halving", hyperband: "Hyperband"};

  function rungs(spec) {
    const p = spec && spec.pruning;
    const out = [];
    if (!p || !(p.min_steps >= 1) || !(p.reduction >= 2)) return out;  // the API refuses both
    for (let r = p.min_steps; r < spec.steps; r *= p.reduction) out.push(r);
    return out;
  }

  const prunedAt = (t) => (t.status === "pruned" && typeof t.pruned_at === "number" ? t.pruned_at : null);
  // a trial's status as the table and the hover say it: "pruned at 30", else the status
  const statusText = (t) => (prunedAt(t) !== null ? `pruned at ${prunedAt(t)}` : t.status);
  const count = (n) => Number(n).toLocaleString("en-US");  // 16,200

  function showPruning(doc) {
    const pruning = doc.spec && doc.spec.pruning;
    $("pruning-panel").hidden = !pruning;
    if (!pruning) return;
    // every trial in the document, else the counts of a summary document (summary.statuses)
    const trials = doc.trials || null;
    const statuses = (doc.summary || {}).statuses || {};
    const total = doc.progress.total;
    const by = (status) => (trials ? trials.filter((t) => t.status === status).length : statuses[status] || 0);
    const parts = [`${by("ok")} of ${total} trials ran to the end`, `${by("pruned")} pruned`];
    if (by("diverged")) parts.push(`${by("diverged")} diverged`);
    if (by("failed")) parts.push(`${by("failed")} failed`);
    const saved = trials ? trials.length : Object.values(statuses).reduce((a, b) => a + b, 0);
    const left = trials || doc.summary && doc.summary.statuses ? total - saved : total - doc.progress.done;
    const running = !GS.finished(doc.status);
    if (left > 0) parts.push(`${left} ${running ? "still running" : "not run"}`);
    const summary = doc.summary || {};
    const spent = summary.trial_steps || 0, full = summary.full_trial_steps || 0;
    const share = full > 0 ? (100 * spent / full).toFixed(1) : "0.0";
    const summaryNode = $("pruning-summary");
    const kind = KINDS[pruning.kind] || pruning.kind;
    summaryNode.textContent = `${kind[0].toUpperCase() + kind.slice(1)}, η = ${pruning.reduction}: ` +
      `${parts.join(", ")}; ${count(spent)} of ${count(full)} trial-steps (${share}%)` +
      (running ? " so far" : "") + ".";
    Object.assign(summaryNode.dataset, {trialSteps: spent, fullTrialSteps: full});
    // how many each rung stopped, and why most settings have no score
    const ladder = rungs(doc.spec);
    const pruned = trials || (prunedPages && prunedPages.items);
    const at = pruned ? ladder.map((r) => `${r}: ${count(pruned.filter((t) => prunedAt(t) === r).length)}`) : null;
    const perRung = !ladder.length ? "" : at ? `Trials pruned at step ${at.join(" · ")}. `
      : `Rungs at step ${ladder.join(" · ")}; ${count(by("pruned"))} trials pruned (per rung: not counted ` +
        `over ${count(PRUNED_COUNTED)}). `;
    const scoredText = doc.settings
      ? `Settings with a score: ${doc.settings.filter((s) => s.score !== null).length} of ${doc.settings.length} `
      : "Settings with a score: the best are listed under Scores ";
    $("pruning-detail").textContent = perRung + scoredText +
      "(a pruned setting has none and is not a candidate for best).";
    if (!trials && !prunedPages && ladder.length && by("pruned") <= PRUNED_COUNTED) countPruned(doc);
  }

  // A summary document's pruned trials, without curves, a page of up to 1,000 at a time (at
  // most PRUNED_COUNTED of them): the per-rung counts; read once the sweep is finished.
  async function countPruned(doc) {
    if (!GS.finished(doc.status)) return;
    prunedPages = {items: null};
    const items = [];
    let cursor = null;
    try {
      do {
        const query = new URLSearchParams({limit: 1000, order: "index", status: "pruned", curves: "false"});
        if (cursor) query.set("cursor", cursor);
        const page = await GS.json(`/v1/sweeps/${id}/trials?${query}`);
        items.push(...page.items);
        cursor = page.next;
      } while (cursor && items.length < PRUNED_COUNTED);
    } catch (e) { prunedPages = null; return; }
    prunedPages = {items};
    showPruning(doc);
  }

  // --- optimizers ---------------------------------------------------------------------------
  // the sweep's optimizers in the spec's order (summary.by_optimizer's keys; the trials' names
  // should a document lack it)
  function optimizerNames(doc) {
    const by = doc.summary && doc.summary.by_optimizer;
    const names = by ? Object.keys(by) : allTrials(doc).map((t) => t.optimizer);
    return [...new Set(names.filter(Boolean))];
  }
  const compares = (doc) => optimizerNames(doc).length > 1;
  const optimizerColours = (doc) =>
    new Map(optimizerNames(doc).map((n, i) => [n, CATEGORICAL[i % CATEGORICAL.length]]));
  const bestTrials = (doc, name) => {
    const entry = ((doc.summary || {}).by_optimizer || {})[name];
    return entry && entry.best ? entry.best.trials : [];
  };

  function swatch(colour) {
    const sw = el("span", {class: "swatch"});
    sw.style.background = colour || MISSING;
    return sw;
  }

  // The best of each optimizer, best first: its score (± std), the hyperparameters its
  // settings sweep (all of them in the tooltip), its settings' count, and a button that
  // highlights its best trials' curves and rows.
  function showByOptimizer(doc) {
    const panel = $("by-optimizer-panel");
    panel.hidden = !compares(doc);
    if (panel.hidden) return;
    const by = (doc.summary || {}).by_optimizer || {};
    const max = goal(metric()) === "max";
    const rank = (name) => (by[name] && by[name].best ? (max ? -1 : 1) * by[name].best.score : Infinity);
    const names = optimizerNames(doc);
    const order = names.slice().sort((a, b) => rank(a) - rank(b) || names.indexOf(a) - names.indexOf(b));
    const colours = optimizerColours(doc);
    $("by-optimizer-metric").textContent = `${metric()}: ${max ? "higher" : "lower"} is better`;
    $("by-optimizer").querySelector("tbody").replaceChildren(...order.map((name, i) => {
      const entry = by[name] || {best: null, settings: 0};
      const best = entry.best;
      const varying = sweptOf(doc, name);
      const shown = best ? Object.entries(best.params).filter(([k]) => !varying.length || varying.includes(k)) : [];
      const all = best ? Object.entries(best.params).map(([k, v]) => `${k}=${GS.num(v)}`).join(", ") : "";
      const button = best ? el("button", {type: "button", class: "link show-best", "aria-pressed": String(chosen === name),
        title: "highlight its best trials' curves and rows", text: "trial " + best.trials.slice(0, 3).map((t) => "#" + t).join(", ") +
          (best.trials.length > 3 ? ", …" : ""),
        onclick: () => { chosen = chosen === name ? null : name; showByOptimizer(results); drawCurves(true); drawTable(); }}) : null;
      return el("tr", {"data-optimizer": name, "data-score": best ? best.score : null,
                       class: chosen === name ? "chosen" : null},
        el("td", {class: "num", text: best ? String(i + 1) : "—"}),
        el("th", {}, swatch(colours.get(name)), name),
        el("td", {class: "num score", "data-value": best ? best.score : null, text: best ? GS.num(best.score) : "—"}),
        el("td", {class: "num muted", text: best ? "± " + GS.num(best.score_std) : ""}),
        el("td", {class: "params", title: all, "data-params": best ? JSON.stringify(best.params) : null,
                  text: best ? shown.map(([k, v]) => `${k}=${GS.num(v)}`).join(", ") || "—" : "no setting has a score yet"}),
        el("td", {class: "num", text: String(entry.settings)}),
        el("td", {}, button));
    }));
  }

  // the hyperparameters whose values differ between one optimizer's settings
  function sweptOf(doc, name) {
    const mine = allTrials(doc).filter((t) => t.optimizer === name);
    const keys = [...new Set(mine.flatMap((t) => Object.keys(t.params)))];
    return keys.filter((k) => new Set(mine.map((t) => t.params[k])).size > 1);
  }

  // --- curves -----------------------------------------------------------------------------
  // An entry's axes as the trials' params name them: its grid, schedule.<parameter>, clip.<kind>.
  function axes(entry) {
    const out = Object.assign({}, entry.grid || {});
    for (const [k, v] of Object.entries(entry.schedule || {})) if (k !== "name") out["schedule." + k] = v;
    for (const [k, v] of Object.entries(entry.clip || {})) if (v !== null) out["clip." + k] = v;
    return out;
  }

  // a grid value that is a distribution of random or Sobol search: {distribution, min, max, drawn}
  const isSampled = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  // a grid value as the header shows it: its numbers, or a distribution's name and range
  const valueText = (v) => (isSampled(v) ? `${v.distribution} ${GS.num(v.min)}–${GS.num(v.max)}`
    : [].concat(v).map(GS.num).join(", "));

  // the swept hyperparameters, over every entry of a comparing sweep: a list of two or more
  // values, or a distribution drawn two or more times
  function swept(doc) {
    const entries = (doc.spec.optimizers || [doc.spec]).map(axes);
    const names = [...new Set(entries.flatMap((a) => Object.keys(a).filter((k) =>
      (Array.isArray(a[k]) && new Set(a[k]).size > 1) ||
      (isSampled(a[k]) && new Set(a[k].drawn || []).size > 1))))];
    return names.length ? names : Object.keys(entries[0] || {}).slice(0, 1);
  }

  // the distribution a key is sampled from in some entry ("log_uniform_values", …), or null
  function sampledFrom(doc, key) {
    const value = (doc.spec.optimizers || [doc.spec]).map((e) => axes(e)[key]).find(isSampled);
    return value ? value.distribution : null;
  }

  // the names the curves can be coloured by: the optimizer (comparing), every params key
  function colourKeys(doc) {
    const keys = [...new Set(allTrials(doc).flatMap((t) => Object.keys(t.params)))];
    if (!keys.length && doc.spec) keys.push(...new Set((doc.spec.optimizers || [doc.spec]).flatMap((e) => Object.keys(axes(e)))));
    return (compares(doc) ? ["optimizer"] : []).concat(keys);
  }

  // How the curves are coloured by `by`: the optimizer, a short list of values or any
  // non-numeric one through a legend (kind "legend"); a number with more values than
  // LEGEND_MAX through a colour bar (kind "bar"), on a log scale when its values are log-spaced.
  // A bar's colour is one of PALETTE's bins, so the sample still merges into a few traces.
  function colourScheme(d, by) {
    if (by === "optimizer") return {kind: "legend", distinct: optimizerNames(d), colour: optimizerColours(d)};
    const values = allTrials(d).map((t) => t.params[by]).filter((v) => v !== undefined && v !== null);
    const distinct = [...new Set(values)].sort((a, b) => (typeof a === "number" && typeof b === "number"
      ? a - b : String(a).localeCompare(String(b))));
    const numeric = distinct.length > 0 && distinct.every((v) => typeof v === "number" && Number.isFinite(v));
    const colour = new Map();
    if (!numeric) {
      distinct.forEach((v, i) => colour.set(v, CATEGORICAL[i % CATEGORICAL.length]));
      return {kind: "legend", distinct, colour};
    }
    if (distinct.length <= LEGEND_MAX) {
      distinct.forEach((v, i) => colour.set(v, PALETTE[distinct.length === 1 ? 0 :
        Math.round((i * (PALETTE.length - 1)) / (distinct.length - 1))]));
      return {kind: "legend", distinct, colour};
    }
    const drawn = d.spec ? sampledFrom(d, by) : null;  // a distribution's own scale, else the values'
    const log = drawn ? drawn === "log_uniform_values" && distinct[0] > 0 : logSpaced(distinct);
    const f = log ? Math.log10 : (v) => v;
    const lo = f(distinct[0]), hi = f(distinct[distinct.length - 1]);
    const bin = (v) => Math.min(PALETTE.length - 1, Math.floor(PALETTE.length * (f(v) - lo) / (hi - lo)));
    for (const v of distinct) colour.set(v, PALETTE[bin(v)]);
    return {kind: "bar", distinct, colour, log, lo, hi};
  }

  // The colour bar: a markers trace with no point, carrying PALETTE as a stepped colour scale
  // over the hyperparameter's range (log10 of it on a log scale), its ticks in GS.num's format.
  function colourBarTrace(scheme, by) {
    const n = PALETTE.length;
    const colorscale = PALETTE.flatMap((c, i) => [[i / n, c], [(i + 1) / n, c]]);
    const ticks = GS.ticks(scheme.lo, scheme.hi, scheme.log);
    return {type: "scatter", mode: "markers", x: [null], y: [null], hoverinfo: "skip", showlegend: false,
      name: "colour bar", meta: {kind: "colorbar", key: by, log: scheme.log},
      marker: {color: [scheme.lo, scheme.hi], cmin: scheme.lo, cmax: scheme.hi, colorscale, showscale: true,
               colorbar: {title: {text: by + (scheme.log ? " (log)" : ""), side: "right"}, thickness: 14,
                          len: 1, tickvals: ticks.map((t) => t.at), ticktext: ticks.map((t) => t.text)}}};
  }

  // The y range the curves are shown in (log10 values on a log axis): the bulk of the drawn
  // values — their 1–99 % quantiles, within Tukey's far-out fences (3 interquartile ranges beyond
  // the middle half), so that one curve run down to 1e-185 does not squash the rest — or all of
  // them (full). Padded by 5 %; null without two values.
  function yRange(values, log, full) {
    const v = (log ? values.filter((y) => y > 0).map(Math.log10) : values.filter(Number.isFinite))
      .sort((a, b) => a - b);
    if (v.length < 2) return null;
    const q = (p) => {
      const i = p * (v.length - 1), j = Math.floor(i);
      return v[j] + (v[Math.min(j + 1, v.length - 1)] - v[j]) * (i - j);
    };
    let lo = v[0], hi = v[v.length - 1];
    if (!full) {
      const q1 = q(0.25), q3 = q(0.75), fence = 3 * (q3 - q1);
      const bulkLo = Math.max(q(0.01), q1 - fence), bulkHi = Math.min(q(0.99), q3 + fence);
      if (bulkHi > bulkLo) { lo = bulkLo; hi = bulkHi; }
    }
    if (!(hi > lo)) { lo -= log ? 0.5 : Math.abs(lo) * 0.1 || 0.5; hi = lo + (log ? 1 : 2 * (Math.abs(hi) * 0.1 || 0.5)); }
    const pad = 0.05 * (hi - lo);
    return [lo - pad, hi + pad];
  }

  // the y axis in the chosen range (its ticks, in GS.num's format, are GS.watchLayout's)
  function yAxis(series, logY) {
    const range = yRange(curveValues, logY, $("full-y").checked);
    const axis = {title: {text: series}, type: logY ? "log" : "linear"};
    return Object.assign(axis, range ? {range, autorange: false} : {autorange: true});
  }

  // The series the trials' curves hold beside step: loss, and a model's val_loss and
  // val_accuracy when it holds out validation rows.
  function curveSeries(doc) {
    const names = ["loss"];
    for (const t of allTrials(doc)) {
      for (const [k, v] of Object.entries(t.curve || {})) {
        if (k !== "step" && Array.isArray(v) && !names.includes(k)) names.push(k);
      }
    }
    return names;
  }

  // The quantile bands of every trial's curve (the overview's): 5–95 % and 25–75 % as filled
  // areas, the median as a line; plain scatter under the curves.
  function bandTraces(series) {
    if (!overviewDoc || series !== "loss" || !overviewDoc.trials) return [];
    const {steps, quantiles, bands} = overviewDoc;
    const at = (q) => bands[quantiles.indexOf(q)];
    const pct = (q) => `${Math.round(100 * q)} %`;
    const trace = (q, extra) => ({type: "scatter", mode: "lines", x: steps, y: at(q), name: "q" + pct(q),
      showlegend: false, hoverinfo: "skip", meta: {kind: "band", quantile: q},
      line: {width: 0, color: "#60a5fa"}, ...extra});
    const out = [];
    for (const [lo, hi, fill] of [[0.05, 0.95, "rgba(96,165,250,0.18)"], [0.25, 0.75, "rgba(96,165,250,0.32)"]]) {
      if (!quantiles.includes(lo) || !quantiles.includes(hi)) continue;
      out.push(trace(lo, {}), trace(hi, {fill: "tonexty", fillcolor: fill,
        hovertemplate: `${pct(lo)}–${pct(hi)} of ${count(overviewDoc.trials)} trials<br>step %{x}<extra></extra>`,
        hoverinfo: undefined}));
    }
    if (quantiles.includes(0.5)) {
      out.push(trace(0.5, {line: {width: 1.5, color: "#1d4ed8", dash: "dot"}, hoverinfo: undefined,
                           customdata: at(0.5).map((y) => GS.num(y)),
                           hovertemplate: `median of ${count(overviewDoc.trials)} trials<br>step %{x}<br>loss %{customdata}<extra></extra>`}));
    }
    return out;
  }

  // Thin traces of one colour and optimizer merged into one (their curves apart by a gap), so
  // that a sample of 200 curves is a dozen SVG paths, not 200; a group's crosses (diverged,
  // pruned) one markers-only trace beside it, so that no point without a cross is a marker.
  function mergeThin(traces) {
    const groups = new Map();
    for (const t of traces) {
      const key = [t.line.color, t.meta.optimizer, t.visible].join("|");
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(t);
    }
    return [...groups.values()].flatMap((group) => {
      const x = [], y = [], text = [], customdata = [];
      const cross = {x: [], y: [], size: [], color: [], text: [], trials: [], customdata: []};
      for (const t of group) {
        x.push(...t.x, null); y.push(...t.y, null); customdata.push(...t.customdata, "");
        text.push(...t.x.map(() => t.meta.label), "");
        t.marker.size.forEach((size, i) => {
          if (!(size > 0)) return;
          cross.x.push(t.x[i]); cross.y.push(t.y[i]); cross.size.push(size); cross.customdata.push(t.customdata[i]);
          cross.color.push(t.marker.color); cross.text.push(t.meta.label); cross.trials.push(t.meta.index);
        });
      }
      const first = group[0];
      const hovertemplate = "%{text}<br>step %{x}<br>" + first.meta.series + " %{customdata}<extra></extra>";
      const lines = Object.assign({}, first, {
        x, y, text, customdata, name: `${group.length} trials`, mode: "lines", connectgaps: false,
        meta: {optimizer: first.meta.optimizer, kind: "sample", trials: group.map((t) => t.meta.index)},
        hovertemplate});
      delete lines.marker;  // no point of a line is a marker
      if (!cross.x.length) return [lines];
      return [lines, Object.assign({}, first, {
        x: cross.x, y: cross.y, text: cross.text, customdata: cross.customdata, name: `${cross.x.length} crosses`, mode: "markers",
        marker: {size: cross.size, symbol: "x", color: cross.color},
        meta: {optimizer: first.meta.optimizer, kind: "crosses", trials: cross.trials}, hovertemplate})];
    });
  }

  function drawCurves(force) {
    const d = doc();
    if (!window.Plotly || (!results && !overviewDoc)) return;
    const trials = drawnTrials();
    const by = $("color-by").value;
    const series = $("curve-choice").value || "loss";
    const logY = $("log-y").checked;
    const key = [trials.length, d.progress.done, overviewDoc ? overviewDoc.trials : -1, top.length,
                 results ? 1 : 0, by, series, highlight, $("full-y").checked, logY].join("|");
    if (key === plotted && !force) return;
    plotted = key;
    const byOptimizer = by === "optimizer";
    const best = new Set(thickSet());
    const scheme = colourScheme(d, by);
    const {distinct, colour} = scheme;
    const valueOf = (t) => (byOptimizer ? t.optimizer : t.params[by]);
    // SVG traces, not WebGL (scattergl): at most ~210 curves of ≤ 200 points, merged past
    // MERGE_OVER, draw in ~0.1 s, where a WebGL context (software-rendered without a GPU) cost
    // ~0.3 s in Plotly.react and ~0.6 s more in the first frame (bench/dashboard.py)
    const traces = trials.map((t) => {
      const curve = t.curve || {};
      let [xs, ys] = GS.downsample(curve.step || [], curve[series] || [], MAX_POINTS);
      const sizes = xs.map(() => 0);
      const diverged = t.status === "diverged" && t.diverged_at !== null;
      if (diverged) {  // an x at the divergence step, at the series' last value
        xs = xs.concat([t.diverged_at]); ys = ys.concat([ys.length ? ys[ys.length - 1] : null]);
        sizes.push(12);
      }
      const pruned = prunedAt(t) !== null && xs.length > 0;
      if (pruned) {  // an x in the curve's colour where its rung stopped it: its last point
        if (xs[xs.length - 1] !== t.pruned_at) { xs = xs.concat([t.pruned_at]); ys = ys.concat([ys[ys.length - 1]]); sizes.push(0); }
        sizes[sizes.length - 1] = 10;
      }
      const isBest = best.has(t.index);
      const isHighlighted = t.index === highlight;
      const label = Object.entries(t.params).map(([k, v]) => `${k}=${GS.num(v)}`).join(", ");
      const lineColour = colour.get(valueOf(t)) || MISSING;
      const title = `trial ${t.index}${t.optimizer ? " " + t.optimizer : ""} (seed ${t.seed}, ${statusText(t)})<br>${label}`;
      return {
        type: "scatter", mode: diverged || pruned ? "lines+markers" : "lines", x: xs, y: ys,
        customdata: ys.map((y) => GS.num(y)),
        visible: hidden.has(t.optimizer) ? false : true,
        name: `#${t.index}`, showlegend: false, legendgroup: t.optimizer,
        meta: {optimizer: t.optimizer, index: t.index, label: title, series, best: isBest, highlighted: isHighlighted},
        line: {color: lineColour, width: isHighlighted ? 5 : isBest ? 3.5 : 1.2},
        marker: {size: sizes, symbol: "x", color: pruned ? lineColour : "#b91c1c"},
        opacity: highlight !== null ? (isHighlighted ? 1 : 0.25) : best.size && !isBest ? (chosen ? 0.15 : 0.45) : 1,
        hovertemplate: title + `<br>step %{x}<br>${series} %{customdata}<extra></extra>`,
      };
    });
    // the best last, so they are drawn on top, the highlighted one above them; many thin
    // curves merged by colour
    const thin = traces.filter((t) => !t.meta.best && !t.meta.highlighted);
    const thick = traces.filter((t) => t.meta.best && !t.meta.highlighted);
    const lit = traces.filter((t) => t.meta.highlighted);
    const bands = bandTraces(series);
    const drawnTraces = bands.concat(thin.length > MERGE_OVER ? mergeThin(thin) : thin, thick, lit,
                                     scheme.kind === "bar" ? [colourBarTrace(scheme, by)] : []);
    curveValues = bands.concat(traces).flatMap((t) => t.y.filter((y) => typeof y === "number"));
    const ladder = overviewDoc && overviewDoc.rungs ? overviewDoc.rungs : rungs(d.spec);
    const layout = {
      margin: {l: 70, r: 20, t: ladder.length ? 26 : 10, b: 45}, hovermode: "closest", showlegend: false,
      xaxis: {title: {text: "step"}}, yaxis: yAxis(series, logY),
    };
    // each rung a dashed vertical line over the whole plot, its step above it
    if (ladder.length) {
      layout.shapes = ladder.map((r) => ({
        type: "line", name: "rung " + r, xref: "x", yref: "paper", x0: r, x1: r, y0: 0, y1: 1,
        line: {color: "#6b7280", width: 1, dash: "dash"},
        label: {text: String(r), textposition: "end", textangle: 0, yanchor: "bottom",
                font: {size: 11, color: "#6b7280"}}}));
    }
    const div = $("curves");
    Plotly.react(div, drawnTraces, layout, {responsive: true, displaylogo: false});
    const missing = !byOptimizer && allTrials(d).some((t) => t.params[by] === undefined);
    // every optimizer (each a show/hide toggle), else at most LEGEND_MAX values and a count
    const shown = scheme.kind !== "legend" ? [] : byOptimizer ? distinct : distinct.slice(0, LEGEND_MAX);
    $("legend").replaceChildren(el("span", {class: "muted", text: by + ":"}),
      ...(scheme.kind === "bar" ? [el("span", {"data-colorbar": by, text: `the colour bar${scheme.log ? " (log scale)" : ""}, ` +
        `${GS.num(distinct[0])}–${GS.num(distinct[distinct.length - 1])}, ${distinct.length} values`})] : []),
      ...shown.map((v) => (byOptimizer
        ? el("button", {type: "button", class: "legend-toggle", "data-legend": v, "aria-pressed": String(!hidden.has(v)),
                        title: `show or hide ${v}'s curves`, onclick: () => {
                          if (!hidden.delete(v)) hidden.add(v);
                          drawCurves(true);
                        }}, swatch(colour.get(v)), v)
        : el("span", {"data-legend": v}, swatch(colour.get(v)), GS.num(v)))),
      ...(distinct.length > shown.length && scheme.kind === "legend"
        ? [el("span", {class: "muted", "data-legend-more": distinct.length - shown.length,
                       text: `+ ${distinct.length - shown.length} more`})] : []),
      ...(missing ? [el("span", {"data-legend": ""}, swatch(MISSING), "not its hyperparameter")] : []),
      el("span", {class: "muted", text: (chosen ? `thick: ${chosen}'s best` : compares(d)
        ? "thick: each optimizer's best" : "thick: best setting and best trials") + " · ✕: diverged" +
        (bands.length ? " · bands: 5–95 % and 25–75 % of all curves, dotted: median" : "") +
        (ladder.length ? " · ✕ in a curve's colour: pruned at a rung · dashed: the rungs" : "")}));
    const n = trials.length, total = d.progress.total;
    const covered = overviewDoc ? overviewDoc.trials : n;
    $("curve-note").textContent = (n >= covered ? `${n} of ${total} trials`
      : `${n} curves drawn (a sample and the best) · bands over ${count(covered)} of ${count(total)} trials`) +
      (highlight !== null ? ` · highlighted: trial ${highlight}` : "");
    $("curve-note").dataset.drawn = n;
  }

  // Only the axis changes: a relayout, not a redraw of every trace.
  function toggleLog() {
    const div = $("curves");
    if (!window.Plotly || !div.data) { drawCurves(true); return; }
    const logY = $("log-y").checked;
    logFor[$("curve-choice").value || "loss"] = logY;
    plotted = plotted.replace(/\|(true|false)$/, "|" + logY);
    const axis = yAxis($("curve-choice").value || "loss", logY);
    Plotly.relayout(div, {"yaxis.type": axis.type, "yaxis.autorange": axis.autorange,
                          "yaxis.range": axis.range});
  }

  // the y range: the bulk of the curves, or (checked) all of their values
  function toggleFullRange() {
    const div = $("curves");
    if (!window.Plotly || !div.data) { drawCurves(true); return; }
    plotted = "";
    const axis = yAxis($("curve-choice").value || "loss", $("log-y").checked);
    Plotly.relayout(div, {"yaxis.autorange": axis.autorange, "yaxis.range": axis.range});
  }

  // --- scores -----------------------------------------------------------------------------
  // Numbers on numeric axes (log when log-spaced), anything else (an optimizer's name, a
  // string) as categories. One hyperparameter: its score by value. Two on a grid: a heatmap
  // coloured by log10(score) (by rank when some score is ≤ 0), two sampled: a scatter of the
  // same colours; three or more: parallel coordinates. Two or more: a slice plot each (every
  // setting at its value). A setting without a score (diverged, pruned, failed) is drawn apart:
  // a grey ✕ whose hover says why.
  // the settings' scores: all of them when the document inlines them, else the best ≤ 100
  const settingsOf = (d) => d.settings || d.top_settings || [];
  const PLOT_CONFIG = {responsive: true, displaylogo: false};
  const UNSCORED = "#8a8a8a";      // a setting without a score
  const SPREAD = 20;               // positive values spanning this factor or more: a log axis
  const DIVERGED_ROW = 0.96;       // where the ✕ of the unscored sit, as a fraction of the height
  const present = (v) => v !== null && v !== undefined;

  // "log", "linear" or "category" for a hyperparameter's values (null name: the scores')
  function scaleOf(name, values) {
    const xs = values.filter(present);
    if (!xs.every((v) => typeof v === "number" && Number.isFinite(v))) return "category";
    if (name && sampledFrom(results, name) === "log_uniform_values") return "log";
    return logSpaced(xs) ? "log" : "linear";
  }

  // positive values spanning SPREAD× or more, or three or more evenly spaced in log (their
  // ratios vary less than their differences) over at least a factor of 3
  function logSpaced(xs) {
    const v = [...new Set(xs)].sort((p, q) => p - q);
    if (v.length < 2 || v[0] <= 0) return false;
    const span = v[v.length - 1] / v[0];
    if (span >= SPREAD) return true;
    if (v.length < 3 || span < 3) return false;
    const spread = (a) => {
      const mean = a.reduce((s, x) => s + x, 0) / a.length;
      return Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length) / mean;
    };
    return spread(v.slice(1).map((x, i) => Math.log(x / v[i]))) < spread(v.slice(1).map((x, i) => x - v[i]));
  }

  // a value as the axis of its scale takes it: a category is its text
  const at = (scale, v) => (scale === "category" ? String(v) : v);
  // the distinct values in axis order: numbers ascending, categories first seen first
  function distinctOf(scale, values) {
    const v = [...new Set(values.filter(present))];
    return scale === "category" ? v : v.sort((p, q) => p - q);
  }
  // an axis; a numeric one with ticks at `values` (a grid's few), labelled as GS.num says
  function axisOf(scale, title, values) {
    const axis = {title: {text: title}, type: scale, automargin: true};
    if (scale !== "category") axis.exponentformat = "power";
    if (scale !== "category" && values && values.length <= 8) {
      Object.assign(axis, {tickmode: "array", tickvals: values, ticktext: values.map(GS.num)});
    }
    return axis;
  }

  // The colour of a score: log10(score) when every score is positive, else its rank (lowest 0);
  // with the colour bar's ticks labelled with real scores.
  function scoreColour(scores) {
    const sorted = scores.slice().sort((p, q) => p - q);
    if (!sorted.length || sorted[0] > 0) {
      const lo = sorted.length ? Math.log10(sorted[0]) : 0;
      const hi = sorted.length ? Math.log10(sorted[sorted.length - 1]) : 1;
      const ticks = GS.ticks(lo, hi, true);
      return {kind: "log", of: (s) => Math.log10(s), cmin: lo, cmax: hi, tickvals: ticks.map((t) => t.at),
              ticktext: ticks.map((t) => t.text)};
    }
    const rank = new Map();
    sorted.forEach((s, i) => { if (!rank.has(s)) rank.set(s, i); });
    const n = sorted.length;
    const tickvals = [...new Set([0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * (n - 1))))];
    return {kind: "rank", of: (s) => rank.get(s), cmin: 0, cmax: Math.max(n - 1, 1), tickvals,
            ticktext: tickvals.map((r) => GS.num(sorted[r]))};
  }

  // the colour bar of scoreColour's colours
  const colourBar = (colour, title) => ({
    title: {text: colour.kind === "rank" ? `${title} (by rank)` : title, side: "right"},
    tickmode: "array", tickvals: colour.tickvals, ticktext: colour.ticktext, thickness: 14});

  // The settings without a score, each with what its trials say: "diverged" when one of them
  // diverged, else "pruned", "failed", or "no score".
  function unscoredOf(settings) {
    const status = new Map(((results && results.trials) || []).map((t) => [t.index, t.status]));
    return settings.filter((s) => s.score === null).map((s) => {
      const statuses = s.trials.map((i) => status.get(i));
      const label = ["diverged", "pruned", "failed"].find((x) => statuses.includes(x)) || "no score";
      return {setting: s, label};
    });
  }
  const paramsText = (names, s) => names.map((n) => `${n}=${GS.num(s.params[n])}`).join("<br>");
  // "· ✕ 3 diverged" (or "without a score" when not all of them diverged)
  const unscoredNote = (unscored) => (!unscored.length ? ""
    : ` · ✕ ${unscored.length} ${unscored.every((u) => u.label === "diverged") ? "diverged" : "without a score"}`);

  // the ✕ of the unscored settings along the top of a plot of `name` (on an overlaid 0..1 axis)
  function unscoredTrace(name, scale, unscored) {
    return {type: "scatter", mode: "markers", yaxis: "y2", name: "without a score", meta: {kind: "unscored"},
            x: unscored.map((u) => at(scale, u.setting.params[name])), y: unscored.map(() => DIVERGED_ROW),
            text: unscored.map((u) => `${name}=${GS.num(u.setting.params[name])}<br>${u.label}`),
            marker: {symbol: "x", size: 9, color: UNSCORED}, hovertemplate: "%{text}<extra></extra>"};
  }
  const overlay = {overlaying: "y", range: [0, 1], visible: false, fixedrange: true};

  // the scores' scale: log when they are positive and span SPREAD× or more
  function scoreScale(scores) {
    if (!scores.length || !scores.every((s) => s > 0)) return "linear";
    const lo = scores.reduce((a, b) => Math.min(a, b)), hi = scores.reduce((a, b) => Math.max(a, b));
    return hi / lo >= SPREAD ? "log" : "linear";
  }
  const scoreAxis = (scores, title) => axisOf(scoreScale(scores), title);
  const plotLayout = (title, xaxis, yaxis, extra) => Object.assign({
    margin: {l: 60, r: 20, t: 30, b: 45}, showlegend: false,
    title: {text: title, font: {size: 13}}, xaxis, yaxis}, extra || {});

  function drawScores() {
    if (!results || !window.Plotly) return;
    const names = swept(results);
    const marginals = (results.summary || {}).marginals;
    if (!results.settings && marginals && !compares(results)) { drawMarginals(names, marginals); return; }
    const max = goal(metric()) === "max";
    const scoreTitle = `score (${metric()}, ${max ? "higher" : "lower"} is better)`;
    const box = $("scores");
    if (compares(results)) { drawComparedScores(box, scoreTitle, names); return; }
    const settings = settingsOf(results);
    const scored = settings.filter((s) => s.score !== null);
    const unscored = unscoredOf(settings);
    // a sampled key has a value per setting: a heatmap of two would be mostly empty cells
    const grid = names.length === 2 && !names.some((n) => sampledFrom(results, n));
    const first = names.length === 1 ? [] : names.length === 2 ? [grid ? "score-heatmap" : "score-map"] : ["score-parcoords"];
    // in the page before Plotly draws them: a detached div has no size, and Plotly then draws
    // at its default 700 × 450 over the panel's edge
    const divs = [...first.map((n) => ensurePlot(box, n, n === "score-parcoords" ? "wide" : null)),
                  ...names.map((n) => ensurePlot(box, (names.length === 1 ? "score-" : "slice-") + n))];
    box.replaceChildren(...divs);
    if (names.length === 2) drawScoreMap(divs[0], grid, names, scored, unscored, max);
    else if (names.length > 2) drawParcoords(divs[0], names, scored, unscored, max);
    names.forEach((name, i) => {
      const div = divs[first.length + i];
      if (names.length === 1) drawScoreLine(div, name, scored, unscored, scoreTitle, max);
      else drawSlice(div, name, scored, unscored, scoreTitle, max);
    });
  }

  // per value of `name`: the best of the scored settings that have it
  function bestByValue(name, scored, max) {
    const byValue = new Map();
    for (const s of scored) {
      const v = s.params[name];
      if (!present(v)) continue;
      if (!byValue.has(v) || (max ? s.score > byValue.get(v).score : s.score < byValue.get(v).score)) byValue.set(v, s);
    }
    return byValue;
  }

  // one swept hyperparameter: the score at each value (± its std); a sampled key as markers
  function drawScoreLine(div, name, scored, unscored, scoreTitle, max) {
    const scale = scaleOf(name, settingsOf(results).map((s) => s.params[name]));
    const byValue = bestByValue(name, scored, max);
    const values = distinctOf(scale, [...byValue.keys()]);
    const best = values.map((v) => byValue.get(v));
    Plotly.react(div, [
      {type: "scatter", mode: sampledFrom(results, name) ? "markers" : "lines+markers", meta: {kind: "scores"},
       x: values.map((v) => at(scale, v)), y: best.map((s) => s.score),
       error_y: {type: "data", array: best.map((s) => s.score_std), visible: true},
       text: best.map((s) => `${name}=${GS.num(s.params[name])}<br>score ${GS.num(s.score)} ± ${GS.num(s.score_std)}`),
       hovertemplate: "%{text}<extra></extra>"},
      unscoredTrace(name, scale, unscored)],
    plotLayout(`score by ${name}${unscoredNote(unscored)}`, axisOf(scale, name),
               scoreAxis(best.map((s) => s.score), scoreTitle), {yaxis2: overlay}), PLOT_CONFIG);
  }

  // A slice: every scored setting a marker at its value of `name` (coloured by its index, as
  // the order it was drawn in), a line through the best at each listed value, the unscored ✕.
  function drawSlice(div, name, scored, unscored, scoreTitle, max) {
    const scale = scaleOf(name, settingsOf(results).map((s) => s.params[name]));
    const mine = scored.filter((s) => present(s.params[name]));
    const traces = [{type: "scatter", mode: "markers", meta: {kind: "slice"},
      x: mine.map((s) => at(scale, s.params[name])), y: mine.map((s) => s.score),
      text: mine.map((s) => `setting #${s.index}<br>${name}=${GS.num(s.params[name])}<br>score ${GS.num(s.score)}`),
      marker: {size: 7, color: mine.map((s) => s.index), colorscale: "Blues", reversescale: true, opacity: 0.85,
               line: {width: 0.5, color: "#334155"},
               colorbar: {title: {text: "setting #", side: "right"}, thickness: 10}},
      hovertemplate: "%{text}<extra></extra>"}];
    if (!sampledFrom(results, name)) {
      const byValue = bestByValue(name, mine, max);
      const values = distinctOf(scale, [...byValue.keys()]);
      traces.push({type: "scatter", mode: "lines", meta: {kind: "best"}, hoverinfo: "skip",
                   x: values.map((v) => at(scale, v)), y: values.map((v) => byValue.get(v).score),
                   line: {color: "#f59e0b", width: 1.5}});
    }
    traces.push(unscoredTrace(name, scale, unscored));
    Plotly.react(div, traces, plotLayout(`slice: score by ${name}${unscoredNote(unscored)}`,
      axisOf(scale, name), scoreAxis(mine.map((s) => s.score), scoreTitle), {yaxis2: overlay}), PLOT_CONFIG);
  }

  // Two swept hyperparameters: a heatmap of a grid (numeric axes, log where log-spaced; the
  // unscored cells grey, crossed) or a scatter of sampled settings, coloured by scoreColour.
  function drawScoreMap(div, grid, [a, b], scored, unscored, max) {
    const all = settingsOf(results);
    const xScale = scaleOf(a, all.map((s) => s.params[a])), yScale = scaleOf(b, all.map((s) => s.params[b]));
    const colour = scoreColour(scored.map((s) => s.score));
    const cross = {type: "scatter", mode: "markers", meta: {kind: "unscored"},
                   x: unscored.map((u) => at(xScale, u.setting.params[a])),
                   y: unscored.map((u) => at(yScale, u.setting.params[b])),
                   text: unscored.map((u) => `${paramsText([a, b], u.setting)}<br>${u.label}`),
                   marker: {symbol: "x", size: 10, color: grid ? "#ffffff" : UNSCORED,
                            line: {width: 1, color: grid ? "#ffffff" : UNSCORED}},
                   hovertemplate: "%{text}<extra></extra>"};
    const title = `${metric()} by ${a} × ${b}${unscoredNote(unscored)}`;
    const xs = distinctOf(xScale, all.map((s) => s.params[a]));
    const ys = distinctOf(yScale, all.map((s) => s.params[b]));
    const layout = plotLayout(title, axisOf(xScale, a, grid ? xs : null), axisOf(yScale, b, grid ? ys : null));
    if (!grid) {
      Plotly.react(div, [{type: "scatter", mode: "markers", meta: {kind: "scores", colour: colour.kind},
        x: scored.map((s) => at(xScale, s.params[a])), y: scored.map((s) => at(yScale, s.params[b])),
        text: scored.map((s) => `${paramsText([a, b], s)}<br>score ${GS.num(s.score)}`),
        marker: {size: 8, color: scored.map((s) => colour.of(s.score)), colorscale: "Viridis",
                 reversescale: !max, cmin: colour.cmin, cmax: colour.cmax, showscale: true,
                 colorbar: colourBar(colour, metric())},
        hovertemplate: "%{text}<extra></extra>"}, cross], layout, PLOT_CONFIG);
      return;
    }
    const xAt = new Map(xs.map((v, i) => [v, i])), yAt = new Map(ys.map((v, i) => [v, i]));
    const cells = () => ys.map(() => xs.map(() => null));
    const z = cells(), text = cells(), grey = cells(), greyText = cells();
    for (const s of scored) {
      const i = yAt.get(s.params[b]), j = xAt.get(s.params[a]);
      z[i][j] = colour.of(s.score);
      text[i][j] = `${paramsText([a, b], s)}<br>score ${GS.num(s.score)} ± ${GS.num(s.score_std)}`;
    }
    for (const u of unscored) {
      const i = yAt.get(u.setting.params[b]), j = xAt.get(u.setting.params[a]);
      grey[i][j] = 0;
      greyText[i][j] = `${paramsText([a, b], u.setting)}<br>${u.label}`;
    }
    const x = xs.map((v) => at(xScale, v)), y = ys.map((v) => at(yScale, v));
    Plotly.react(div, [
      {type: "heatmap", x, y, z, text, meta: {kind: "scores", colour: colour.kind}, hoverongaps: false,
       colorscale: "Viridis", reversescale: !max,  // the best is yellow
       zmin: colour.cmin, zmax: colour.cmax, colorbar: colourBar(colour, metric()),
       hovertemplate: "%{text}<extra></extra>"},
      {type: "heatmap", x, y, z: grey, text: greyText, meta: {kind: "unscored-cells"}, hoverongaps: false,
       colorscale: [[0, UNSCORED], [1, UNSCORED]], showscale: false, hovertemplate: "%{text}<extra></extra>"},
      Object.assign(cross, {hoverinfo: "skip", hovertemplate: null})],
    layout, PLOT_CONFIG);
  }

  // A parallel-coordinates dimension: log-spaced values on log10 and categories as their
  // positions, each with ticks labelled with the real values.
  function dimensionOf(label, scale, values) {
    if (scale === "category") {
      const order = distinctOf(scale, values).map(String);
      return {label, values: values.map((v) => order.indexOf(String(v))), range: [0, Math.max(order.length - 1, 1)],
              tickvals: order.map((_, i) => i), ticktext: order};
    }
    const distinct = distinctOf(scale, values);
    const log = scale === "log";
    const coords = values.map((v) => (log ? Math.log10(v) : v));
    const lo = Math.min(...coords), hi = Math.max(...coords);
    const dim = {label, values: coords, range: lo === hi ? [lo - 1, hi + 1] : [lo, hi]};
    const ticks = distinct.length <= 8 ? distinct.map((v) => ({at: log ? Math.log10(v) : v, text: GS.num(v)}))
      : GS.ticks(lo, hi, log);
    dim.tickvals = ticks.map((t) => t.at);
    dim.ticktext = ticks.map((t) => t.text);
    return dim;
  }

  // Three or more swept hyperparameters: a line per scored setting through one axis per
  // hyperparameter and the score last, coloured by the score.
  function drawParcoords(div, names, scored, unscored, max) {
    const scores = scored.map((s) => s.score);
    const scale = scoreScale(scores);
    const colour = scoreColour(scores);
    const dimensions = names.map((n) => dimensionOf(n, scaleOf(n, settingsOf(results).map((s) => s.params[n])),
                                                    scored.map((s) => s.params[n])));
    dimensions.push(dimensionOf(`score (${metric()})`, scale, scores));
    Plotly.react(div, [{type: "parcoords", meta: {kind: "parcoords", names, scoreScale: scale}, dimensions,
      line: {color: scored.map((s) => colour.of(s.score)), colorscale: "Viridis", reversescale: !max,
             cmin: colour.cmin, cmax: colour.cmax, showscale: true, colorbar: colourBar(colour, metric())}}],
    {margin: {l: 70, r: 40, t: 80, b: 30},  // the title on top, the dimensions' labels below it
     title: {text: `parallel coordinates · ${scored.length} scored settings` +
                   (unscored.length ? ` (${unscored.length} without a score left out)` : ""), font: {size: 13},
             yref: "container", y: 1, yanchor: "top", pad: {t: 8}}},
    PLOT_CONFIG);
  }

  // A document without every setting (a large sweep): per swept hyperparameter the mean score
  // at each of its values (or bins of a sampled one), from summary.marginals, and the best
  // settings (top_settings) as markers.
  function drawMarginals(names, marginals) {
    const box = $("scores");
    const max = goal(metric()) === "max";
    const divs = names.map((name) => ensurePlot(box, "score-" + name));
    box.replaceChildren(...divs);
    names.forEach((name, i) => {
      const bins = (marginals[name] || []).filter((b) => present(b.mean));
      const mid = (b) => ("value" in b && b.value !== undefined ? b.value : (b.lo + b.hi) / 2);
      const topS = settingsOf(results).filter((s) => s.score !== null && present(s.params[name]));
      const scale = scaleOf(name, bins.map(mid).concat(topS.map((s) => s.params[name])));
      Plotly.react(divs[i], [
        {type: "scatter", mode: "lines+markers", name: "mean score", meta: {kind: "marginal"},
         x: bins.map((b) => at(scale, mid(b))), y: bins.map((b) => b.mean),
         text: bins.map((b) => `${name}=${GS.num(mid(b))}<br>mean score ${GS.num(b.mean)} (${b.n} trials)`),
         hovertemplate: "%{text}<extra></extra>"},
        {type: "scatter", mode: "markers", name: "best settings", meta: {kind: "best"},
         x: topS.map((s) => at(scale, s.params[name])), y: topS.map((s) => s.score),
         text: topS.map((s) => `${name}=${GS.num(s.params[name])}<br>score ${GS.num(s.score)}`),
         marker: {symbol: "star", size: 8}, hovertemplate: "%{text}<extra></extra>"}],
        plotLayout(`mean score by ${name}`, axisOf(scale, name),
                   scoreAxis(bins.map((b) => b.mean).concat(topS.map((s) => s.score)),
                             `score (${metric()}, ${max ? "higher" : "lower"} is better)`)),
        PLOT_CONFIG);
    });
  }

  // Comparing optimizers: each one's best score as a bar (± std), then per swept hyperparameter
  // the best score at each of its values, a line per optimizer that sweeps it.
  function drawComparedScores(box, scoreTitle, names) {
    const by = (results.summary || {}).by_optimizer || {};
    const colours = optimizerColours(results);
    const all = optimizerNames(results);
    const scored = all.filter((n) => by[n] && by[n].best);
    const max = goal(metric()) === "max";
    const lines = names.map((name) => [name, all.filter((n) => sweptOf(results, n).includes(name))])
      .filter(([, opts]) => opts.length);
    const divs = [ensurePlot(box, "score-by-optimizer"), ...lines.map(([name]) => ensurePlot(box, "score-" + name))];
    box.replaceChildren(...divs);
    const bests = scored.map((n) => by[n].best.score);
    Plotly.react(divs[0], [{type: "bar", x: scored, y: bests,
                            marker: {color: scored.map((n) => colours.get(n))},
                            error_y: {type: "data", array: scored.map((n) => by[n].best.score_std), visible: true},
                            text: scored.map((n) => `${n}<br>best score ${GS.num(by[n].best.score)}`), textposition: "none",
                            hovertemplate: "%{text}<extra></extra>"}],
                 plotLayout("best score of each optimizer", axisOf("category", "optimizer"), scoreAxis(bests, scoreTitle)),
                 PLOT_CONFIG);
    const optimizerOf = new Map(allTrials(results).map((t) => [t.index, t.optimizer]));
    lines.forEach(([name, opts], i) => {
      const scale = scaleOf(name, settingsOf(results).map((s) => s.params[name]));
      const traces = opts.map((opt) => {
        const mine = settingsOf(results).filter((s) => s.score !== null && optimizerOf.get(s.trials[0]) === opt);
        const byValue = bestByValue(name, mine, max);
        const xs = distinctOf(scale, [...byValue.keys()]);
        return {type: "scatter", mode: sampledFrom(results, name) ? "markers" : "lines+markers",
                name: opt, legendgroup: opt, x: xs.map((v) => at(scale, v)),
                y: xs.map((v) => byValue.get(v).score), line: {color: colours.get(opt)},
                error_y: {type: "data", array: xs.map((v) => byValue.get(v).score_std), visible: true},
                text: xs.map((v) => `${opt}<br>${name}=${GS.num(v)}<br>best score ${GS.num(byValue.get(v).score)}`),
                hovertemplate: "%{text}<extra></extra>"};
      });
      Plotly.react(divs[i + 1], traces, plotLayout(`best score by ${name}`, axisOf(scale, name),
        scoreAxis(traces.flatMap((t) => t.y), scoreTitle), {showlegend: true}), PLOT_CONFIG);
    });
  }

  function ensurePlot(box, name, extraClass) {
    return box.querySelector(`[data-plot="${CSS.escape(name)}"]`) ||
           el("div", {class: "score-plot" + (extraClass ? " " + extraClass : ""), "data-plot": name});
  }

  // --- trials table ---------------------------------------------------------------------------
  // a model's validation metrics, columns when some trial has them
  const VALIDATION = [["final_val_loss", "final val loss"], ["min_val_loss", "min val loss"],
                      ["final_val_accuracy", "final val accuracy"], ["max_val_accuracy", "max val accuracy"]];

  function columns() {
    // every params key (the optimizers of a comparing sweep have their own), first seen first
    const d = doc();
    const shown = table.items.length ? table.items : allTrials(d);
    const params = [...new Set(shown.flatMap((t) => Object.keys(t.params)))];
    const optimizer = compares(d) ? [["optimizer", "optimizer", (t) => t.optimizer]] : [];
    const validation = VALIDATION.filter(([key]) =>
      shown.some((t) => t[key] !== null && t[key] !== undefined));
    return [["index", "trial", (t) => t.index], ...optimizer, ...params.map((p) => [
      "param:" + p, p, (t) => t.params[p]]),
      ["seed", "seed", (t) => t.seed],
      // "pruned at 30": sorted by the status, then the rung's step as a number
      ["status", "status", statusText, (t) => [t.status, prunedAt(t) ?? 0]],
      ["final_loss", "final loss", (t) => t.final_loss], ["min_loss", "min loss", (t) => t.min_loss],
      ["mean_loss", "mean loss", (t) => t.mean_loss],
      ...validation.map(([key, label]) => [key, label, (t) => t[key]]),
      ["diverged_at", "diverged at", (t) => t.diverged_at],
      ["error", "error", (t) => t.error]];
  }

  // two cells' sort values: numbers or strings, or lists of them compared element by element
  function compare(x, y) {
    if (Array.isArray(x) && Array.isArray(y)) {
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compare(x[i], y[i]);
        if (c) return c;
      }
      return x.length - y.length;
    }
    return x === y ? 0 : x < y ? -1 : 1;
  }

  // a column's first click sorts best first: descending for a metric where higher is better
  const firstDir = (key) => (goal(key) === "max" ? -1 : 1);

  // The table a page at a time from GET …/trials (order, status filter, a stack of cursors for
  // "previous"). When the whole of it is on screen (one page, no next) any column sorts it here,
  // both ways; else a click on the trial column asks for index order and on the metric's
  // column for score order (best first), and the other columns do not sort: sorting the 50
  // rows on screen would not sort the sweep.
  function tableQuery() {
    const cursor = table.cursors[table.cursors.length - 1];
    const query = new URLSearchParams({limit: PAGE, order: table.order, curves: "false"});
    if (table.status) query.set("status", table.status);
    if (cursor) query.set("cursor", cursor);
    return query;
  }

  async function loadTable(first) {
    const asked = tableQuery().toString();
    let page;
    try {
      if (first) {
        const got = await first;
        if (got.error) throw got.error;
        page = got.value;
      } else page = await GS.json(`/v1/sweeps/${id}/trials?${asked}`);
    } catch (e) { fail("Could not load the trials: " + e.message); return; }
    if (asked !== tableQuery().toString()) return;  // asked again since
    table.items = page.items; table.next = page.next; table.total = page.total;
    const start = (table.cursors.length - 1) * PAGE;
    $("table-page").textContent = page.items.length
      ? `trials ${count(start + 1)}–${count(start + page.items.length)} of ${count(page.total)}`
      : `none of ${count(page.total)}${page.next ? " yet" : ""}`;
    $("table-prev").disabled = table.cursors.length <= 1;
    $("table-next").disabled = !page.next;
    drawTable();
  }

  function pageTable(step) {
    if (step > 0 && table.next) table.cursors.push(table.next);
    else if (step < 0 && table.cursors.length > 1) table.cursors.pop();
    else if (step === 0) table.cursors = [null];
    loadTable();
  }

  // the whole table (of its status filter) is on screen: it sorts here
  const wholeTable = () => table.cursors.length === 1 && !table.next;
  // the column the server's order sorts by: the trial index, or the metric for order=score
  const orderKey = () => (table.order === "score" ? metric() || "final_loss" : "index");

  // a header's click: sort here (the whole table on screen), else ask the server
  function sortBy(key) {
    if (wholeTable()) {
      sortDir = key === sortKey ? -sortDir : firstDir(key); sortKey = key; drawTable();
      return;
    }
    const order = key === "index" ? "index" : key === (metric() || "final_loss") ? "score" : null;
    if (!order) return;
    sortKey = key; sortDir = order === "score" ? firstDir(key) : 1;
    table.order = order; $("table-order").value = order;
    pageTable(0);
  }

  function drawTable() {
    const d = doc();
    const cols = columns();
    const whole = wholeTable();
    if (!whole) { sortKey = orderKey(); sortDir = table.order === "score" ? firstDir(sortKey) : 1; }
    const sortable = (key) => whole || key === "index" || key === (metric() || "final_loss");
    const col = cols.find((c) => c[0] === sortKey) || cols[0];
    const best = new Set(d.best ? d.best.trials : []);
    const highlighted = new Set(chosen && results ? bestTrials(results, chosen) : []);
    const sortValue = col[3] || col[2];  // a column's own sort value, else its cell's
    const rows = !whole ? table.items : table.items.slice().sort((a, b) => {
      const x = sortValue(a), y = sortValue(b);
      if (x === null || x === undefined) return y === null || y === undefined ? a.index - b.index : 1;  // nulls last
      if (y === null || y === undefined) return -1;
      return compare(x, y) * sortDir || a.index - b.index;
    });
    $("trials").querySelector("thead").replaceChildren(el("tr", {}, ...cols.map(([key, label]) =>
      el("th", {class: sortable(key) ? "sortable" : null, "data-key": key,
                "data-dir": key === sortKey ? (sortDir > 0 ? "asc" : "desc") : null,
                title: [goals.has(key) ? `${goal(key) === "max" ? "higher" : "lower"} is better` : "",
                        sortable(key) ? "" : "sorts only a table on one page"].filter(Boolean).join("; ") || null,
                onclick: sortable(key) ? () => sortBy(key) : null,
                text: label}))));
    $("trials").querySelector("tbody").replaceChildren(...rows.map((t) =>
      el("tr", {class: [best.has(t.index) ? "best" : "", highlighted.has(t.index) ? "chosen" : "",
                        t.index === highlight ? "highlighted" : ""].join(" ").trim() || null,
                "data-index": t.index, "data-optimizer": t.optimizer, "aria-selected": String(t.index === highlight),
                title: "click: highlight its curve (again: no longer)", onclick: () => highlightTrial(t.index)},
         ...cols.map(([key, , get]) => {
           const v = get(t);
           if (key === "optimizer") {
             return el("td", {"data-value": v}, swatch(optimizerColours(d).get(v)), v);
           }
           if (key === "status") {
             return el("td", {"data-status": t.status, "data-pruned-at": prunedAt(t), text: v});
           }
           return el("td", {class: typeof v === "number" ? "num" : null,
                            "data-value": typeof v === "number" ? v : null, text: typeof v === "number" ? GS.num(v) : (v === null || v === undefined ? "—" : v)});
         }))));
  }

  // A row's click highlights its trial's curve (drawn thick on top, the others faint); a
  // second click on it, or a click on another row, moves or ends the highlight.
  // A trial outside the drawn ones (a large sweep's) is read with its curve first.
  async function highlightTrial(index) {
    highlight = highlight === index ? null : index;
    drawTable();
    if (highlight !== null && !drawnTrials().some((t) => t.index === highlight)) {
      try {
        const trial = await GS.json(`/v1/sweeps/${id}/trials/${index}`);
        if (highlight !== index) return;  // clicked again since
        lit = trial;
      } catch (e) { fail(`Could not load trial ${index}: ${e.message}`); }
    }
    drawCurves(true);
  }

  // --- data -------------------------------------------------------------------------------
  // the overview and the best trials (the early requests the first time), then the curves
  async function loadOverview(first) {
    const [ov, best] = await Promise.all(first ? [early.overview, early.top] : [
      GS.json(`/v1/sweeps/${id}/overview`).catch(() => null),
      GS.json(`/v1/sweeps/${id}/trials?order=score&limit=${TOP}&curves=true`)
        .then((page) => page.items).catch(() => [])]);
    overviewDoc = ov || overviewDoc; top = best || [];
    await plotlyReady;
    updateChoices(doc());
    drawCurves(false);
  }

  function updateChoices(d) {
    const names = colourKeys(d);
    const select = $("color-by");
    if ([...select.options].map((o) => o.value).join() !== names.join()) {
      const wanted = select.value || (compares(d) ? "optimizer" : d.spec ? swept(d)[0] : varying(d));
      select.replaceChildren(...names.map((n) => el("option", {value: n, text: n})));
      if (names.includes(wanted)) select.value = wanted;
    }
    const series = curveSeries(d);
    const choice = $("curve-choice");
    if ([...choice.options].map((o) => o.value).join() !== series.join()) {
      const chosen = choice.value;
      choice.replaceChildren(...series.map((n) => el("option", {value: n, text: n})));
      if (series.includes(chosen)) choice.value = chosen;
    }
  }

  // before the spec is known: the params key with the most distinct values among the drawn
  function varying(d) {
    const trials = allTrials(d);
    const keys = [...new Set(trials.flatMap((t) => Object.keys(t.params)))];
    const distinct = (k) => new Set(trials.map((t) => t.params[k])).size;
    return keys.sort((a, b) => distinct(b) - distinct(a))[0];
  }

  // The curves first (overview and best trials); then, once they are painted, the results
  // document (the header's spec, best, importance, pruning, scores) and the table's page.
  async function loadResults(first) {
    resultsAt = Date.now();
    await loadOverview(first);
    if (first) await painted();
    try {
      if (first) {
        const got = await early.results;
        if (got.error) throw got.error;
        results = await GS.body(got.value);
      } else results = await GS.json(`/v1/sweeps/${id}/results`);
    } catch (e) { fail("Could not load the results: " + e.message); return; }
    await early.catalogue;
    updateChoices(results);
    if (view) showView(view);  // its header names the schedule and clipping from the spec
    if (results.best) showBest(results.best);
    showImportance(results);
    showPruning(results);
    showByOptimizer(results);
    drawCurves(false); drawScores(); loadTable(first ? early.table : null);
  }

  // results at most every RESULTS_MIN_MS while running, and always once at the end
  function scheduleResults(final) {
    if (resultsTimer) { if (!final) return; clearTimeout(resultsTimer); }
    const wait = final ? 0 : Math.max(0, resultsAt + RESULTS_MIN_MS - Date.now());
    resultsTimer = setTimeout(() => { resultsTimer = null; loadResults(); }, wait);
  }

  function onView(v) {
    const before = view;
    showView(v);
    if (!before || before.progress.done !== v.progress.done || before.status !== v.status) {
      scheduleResults(GS.finished(v.status));
    }
  }

  function poll() {
    const timer = setInterval(async () => {
      try {
        const v = await GS.json(`/v1/sweeps/${id}`);
        onView(v);
        if (GS.finished(v.status)) { clearInterval(timer); $("live").textContent = ""; }
      } catch (e) { fail("Could not refresh: " + e.message); }
    }, POLL_MS);
    $("live").textContent = "polling";
  }

  function live() {
    // EventSource cannot send an Authorization header: with an API key, poll instead
    if (!window.EventSource || localStorage.getItem("gradsweep.apiKey")) { poll(); return; }
    const source = new EventSource(`/v1/sweeps/${id}/events`);
    let ended = false;
    $("live").textContent = "live";
    source.addEventListener("progress", (e) => onView(JSON.parse(e.data)));
    source.addEventListener("end", (e) => {
      ended = true; source.close(); $("live").textContent = "";
      onView(JSON.parse(e.data)); scheduleResults(true);
    });
    source.addEventListener("error", () => {
      if (ended) return;
      source.close();
      poll();
    });
  }

  async function cancel() {
    if (!window.confirm("Cancel this sweep? Trials not yet run will not run.")) return;
    $("cancel").disabled = true;
    try {
      onView(await GS.json(`/v1/sweeps/${id}`, {method: "DELETE"}));
    } catch (e) { fail("Could not cancel: " + e.message); }
    $("cancel").disabled = false;
  }

  async function start() {
    if (!id) { fail("Not a sweep id."); return; }
    $("download-json").href = `/v1/sweeps/${id}/results`;
    $("download-json").setAttribute("download", `${id}.json`);
    $("download-csv").href = `/v1/sweeps/${id}/results.csv`;
    $("download-csv").setAttribute("download", `${id}.csv`);
    $("cancel").addEventListener("click", cancel);
    $("table-next").addEventListener("click", () => pageTable(1));
    $("table-prev").addEventListener("click", () => pageTable(-1));
    $("table-order").addEventListener("change", () => {
      table.order = $("table-order").value;
      sortKey = orderKey(); sortDir = table.order === "score" ? firstDir(sortKey) : 1;
      pageTable(0);
    });
    $("table-status").addEventListener("change", () => { table.status = $("table-status").value; pageTable(0); });
    $("color-by").addEventListener("change", () => drawCurves(true));
    $("log-y").addEventListener("change", toggleLog);
    $("full-y").addEventListener("change", toggleFullRange);
    GS.watchLayout();
    $("curve-choice").addEventListener("change", () => {
      $("log-y").checked = logDefault($("curve-choice").value);
      drawCurves(true);
    });
    // the catalogue says which metrics are better higher; without it, the accuracies are
    early.catalogue.then((entries) => {
      if (entries) goals = new Map(entries.flatMap((e) => (e.metrics || []).map((m) => [m.name, m.goal])));
    });
    const got = await early.view;
    if (got.error) {
      const e = got.error;
      fail(e.status === 404 ? `There is no sweep ${id}.` : "Could not load the sweep: " + e.message);
      return;
    }
    const v = got.value;
    showView(v);
    await loadResults(true);
    if (!GS.finished(v.status)) live();
  }

  start();
})();
