"use strict";
// Shared helpers of the dashboard's pages. Text goes into the DOM only as textContent.
const GS = (() => {
  const KEY = "gradsweep.apiKey";

  function apiKey() {
    try { return localStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }

  function askKey() {
    const given = window.prompt("This API needs a key (Authorization: Bearer <key>):", apiKey());
    if (given !== null) { localStorage.setItem(KEY, given.trim()); window.location.reload(); }
  }

  // fetch on the API, with the key if one was given; a 401 asks for one (once per page).
  let asked = false;
  async function api(path, options = {}) {
    const headers = Object.assign({Accept: "application/json"}, options.headers || {});
    if (apiKey()) headers.Authorization = "Bearer " + apiKey();
    const response = await fetch(path, Object.assign({}, options, {headers}));
    if (response.status === 401 && !asked) { asked = true; askKey(); }
    return response;
  }

  async function json(path, options) {
    return body(await api(path, options));
  }

  // a response's JSON body; an error (with its status and body) unless the response is ok
  async function body(response) {
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.statusText;
      const err = new Error(message);
      err.status = response.status; err.body = body;
      throw err;
    }
    return body;
  }

  // el("td", {class: "num"}, "text", childNode, ...): an element; strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // One number format for the dashboard: 3 significant digits, scientific below 1e-3 and from
  // 1e5 on (9.93e-4, 0.00101, 0.5, 1.23e5); an integer below 1e5 as it is (a step, a batch size).
  function num(x) {
    if (x === null || x === undefined) return "—";
    if (typeof x !== "number") return String(x);
    if (!Number.isFinite(x)) return String(x);
    if (x === 0) return "0";
    if (Number.isInteger(x) && Math.abs(x) < 1e5) return String(x);
    const rounded = Number(x.toPrecision(3));  // the threshold is the shown value's: 0.00099951 is 0.001
    const a = Math.abs(rounded);
    if (a >= 1e5 || a < 1e-3) {
      const [mantissa, exponent] = rounded.toExponential(2).split("e");
      return `${mantissa.replace(/\.?0+$/, "")}e${Number(exponent)}`;
    }
    return String(rounded);
  }

  // At most `max` points of a curve, evenly spaced, always the first and the last.
  function downsample(xs, ys, max) {
    const n = xs.length;
    if (n <= max) return [xs, ys];
    const ox = [], oy = [];
    for (let i = 0; i < max; i++) {
      const j = Math.round((i * (n - 1)) / (max - 1));
      ox.push(xs[j]); oy.push(ys[j]);
    }
    return [ox, oy];
  }

  // Ticks over [lo, hi] (log10 values on a log scale), each its position and GS.num's text:
  // decades (1, 2, 5 within them over a short span) on a log scale, 1-2-5 steps on a linear one.
  function ticks(lo, hi, log) {
    if (!(hi > lo)) return [{at: lo, text: num(log ? 10 ** lo : lo)}];
    if (log) {
      const span = hi - lo;
      const every = Math.max(1, Math.ceil(span / 8));
      let out = [];
      for (let k = Math.ceil(lo - 1e-9); k <= hi + 1e-9; k += every) out.push(k);
      if (out.length < 3) {
        out = [];
        for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
          for (const m of [1, 2, 5]) {
            const at = k + Math.log10(m);
            if (at >= lo - 1e-9 && at <= hi + 1e-9) out.push(at);
          }
        }
      }
      if (out.length >= 2) return out.map((at) => ({at, text: num(Number((10 ** at).toPrecision(12)))}));
      return linearTicks(10 ** lo, 10 ** hi).map((v) => ({at: Math.log10(v), text: num(v)}));
    }
    return linearTicks(lo, hi).map((v) => ({at: v, text: num(v)}));
  }

  function linearTicks(lo, hi) {
    const raw = (hi - lo) / 5;
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || 10 * p;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }


  // Every numeric axis of a plot whose drawer chose no ticks of its own, labelled as num says
  // (plotly's own labels read 100µ, 2, 5 and 1e+5): its ticks picked over the range plotly laid
  // out, after every draw and zoom. `ours` holds the ticks set here, told from a drawer's own.
  const ours = new WeakMap();
  function formatAxes(div) {
    const full = div._fullLayout, given = div.layout || {};
    if (!full || !window.Plotly) return;
    const mine = ours.get(div) || {}, update = {};
    for (const name of Object.keys(full).filter((k) => /^[xy]axis\d*$/.test(k))) {
      const ax = full[name], asked = given[name] || {};
      if (!ax || !Array.isArray(ax.range) || !["linear", "log"].includes(ax.type) || ax.visible === false) continue;
      const set = asked.tickmode === "array";
      if (set && JSON.stringify(asked.tickvals) !== mine[name]) continue;  // the drawer's ticks
      const log = ax.type === "log";
      const picked = ticks(Math.min(...ax.range), Math.max(...ax.range), log);
      const tickvals = picked.map((t) => (log ? 10 ** t.at : t.at));
      if (set && JSON.stringify(tickvals) === mine[name]) continue;
      mine[name] = JSON.stringify(tickvals);
      Object.assign(update, {[name + ".tickmode"]: "array", [name + ".tickvals"]: tickvals,
                             [name + ".ticktext"]: picked.map((t) => t.text)});
    }
    ours.set(div, mine);
    if (Object.keys(update).length) Plotly.relayout(div, update);
  }

  // a plot seen for the first time: its axes formatted after each of its draws
  const watched = new WeakSet();
  function watchPlot(div) {
    if (watched.has(div) || typeof div.on !== "function") return;
    watched.add(div);
    div.on("plotly_afterplot", () => formatAxes(div));
    formatAxes(div);
  }

  // Every plot of the page sized to its container: once it is laid out (a plot drawn into a
  // detached or not yet sized div gets plotly's 700 × 450 default), when a panel changes size,
  // and on a window resize. Whatever draws the plot, it is a .js-plotly-plot in the page.
  let fitting = 0;
  function fitPlots() {
    if (fitting) return;
    fitting = requestAnimationFrame(() => {
      fitting = 0;
      if (!window.Plotly) return;
      for (const div of document.querySelectorAll(".js-plotly-plot")) {
        watchPlot(div);
        const drawn = div._fullLayout;
        if (!drawn || !div.isConnected || div.clientWidth === 0) continue;
        const wrong = Math.abs(drawn.width - div.clientWidth) > 1 ||
          (div.clientHeight > 0 && Math.abs(drawn.height - div.clientHeight) > 1);
        if (wrong) Plotly.Plots.resize(div);
      }
    });
  }

  // Called once by a page with plots.
  function watchLayout() {
    window.addEventListener("resize", fitPlots);
    if (window.ResizeObserver) {
      const sizes = new ResizeObserver(fitPlots);
      for (const panel of document.querySelectorAll(".panel, .plot, .score-plot")) sizes.observe(panel);
    }
    // a plot div added (or redrawn) anywhere: checked once laid out
    new MutationObserver(fitPlots).observe(document.querySelector("main"), {childList: true, subtree: true});
  }

  function time(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  function progressBar(done, total) {
    const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
    const bar = el("div", {class: "bar"});
    bar.style.width = pct + "%";
    return el("div", {class: "progress", role: "progressbar", "aria-valuemin": 0,
                      "aria-valuemax": 100, "aria-valuenow": pct, "data-done": done,
                      "data-total": total, title: `${done} / ${total} trials`},
              bar, el("span", {class: "label", text: `${pct} % (${done}/${total})`}));
  }

  function statusBadge(status) {
    return el("span", {class: "status status-" + status, "data-status": status, text: status});
  }

  function finished(status) { return ["succeeded", "failed", "cancelled"].includes(status); }

  return {api, json, body, el, num, ticks, downsample, watchLayout, time, progressBar, statusBadge, finished, askKey};
})();
