"use strict";
// The new-sweep form: built from GET /v1/optimizers and /v1/objectives, shows the spec it will
// POST, and shows the API's 422 details next to the fields they name.
(() => {
  const {el} = GS;
  const $ = (x) => document.getElementById(x);
  const form = $("spec-form");
  let optimizers = [], objectives = [];

  const optimizer = () => optimizers.find((o) => o.name === $("f-optimizer").value);
  const objective = () => objectives.find((o) => o.name === $("f-objective").value);

  // "0.01, 0.1" → [0.01, 0.1]; "0.1" → 0.1; "" → undefined. What is not a number is sent as
  // typed, for the API to name in its 422.
  function parseValues(text) {
    const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const values = parts.map((s) => (s !== "" && isFinite(Number(s)) ? Number(s) : s));
    if (!values.length) return undefined;
    return values.length === 1 ? values[0] : values;
  }

  function parseInteger(text) {
    const t = text.trim();
    if (t === "") return undefined;
    return isFinite(Number(t)) ? Number(t) : t;
  }

  function spec() {
    const s = {};
    const name = $("f-name").value.trim();
    if (name) s.name = name;
    s.objective = {name: $("f-objective").value};
    if (isModel()) {
      Object.assign(s.objective, modelFields());
    } else {
      const dim = parseInteger($("f-dim").value);
      if (dim !== undefined) s.objective.dim = dim;
    }
    if (s.objective.name === "expression") s.objective.expr = $("f-expr").value;
    s.optimizer = $("f-optimizer").value;
    s.grid = {};
    for (const input of document.querySelectorAll("#hyperparameters input")) {
      const v = parseValues(input.value);
      if (v !== undefined) s.grid[input.dataset.param] = v;
    }
    for (const [key, id] of [["steps", "f-steps"], ["record_every", "f-record-every"],
                             ["seeds", "f-seeds"]]) {
      const v = parseInteger($(id).value);
      if (v !== undefined) s[key] = v;
    }
    s.metric = $("f-metric").value;
    return s;
  }

  function showSpec() {
    const s = spec();
    $("spec-json").textContent = JSON.stringify(s, null, 2);
    let settings = 1;
    for (const v of Object.values(s.grid)) settings *= Array.isArray(v) ? v.length : 1;
    const seeds = typeof s.seeds === "number" ? s.seeds : 1;
    $("trial-count").textContent = `${settings * seeds} trial(s)`;
  }

  function buildHyperparameters() {
    const opt = optimizer();
    $("optimizer-summary").textContent = opt ? opt.summary : "";
    const defaults = {lr: "0.001, 0.01, 0.1"};
    $("hyperparameters").replaceChildren(...(opt ? opt.hyperparameters : []).map((h) => {
      const id = "f-grid-" + h.name;
      const input = el("input", {id, type: "text", autocomplete: "off", "data-param": h.name,
                                 placeholder: `default ${h.default}`, value: defaults[h.name] || null});
      return el("div", {class: "hyperparameter"},
        el("label", {for: id}, h.name + " ", el("span", {class: "hint", text: `${h.range} — ${h.description}`})),
        input, el("span", {class: "field-error", "data-error-for": "grid." + h.name}));
    }));
  }

  // A model objective (its catalogue entry lists the datasets it takes): dim is derived.
  const isModel = () => { const o = objective(); return !!(o && o.datasets); };
  const dataset = () => { const o = objective(); return o && o.datasets ? o.datasets.find((d) => d.name === $("f-dataset").value) : null; };

  // The model's own fields; empty ones are left to their defaults.
  function modelFields() {
    const o = {dataset: $("f-dataset").value};
    const batch = parseInteger($("f-batch-size").value);
    if (batch !== undefined) o.batch_size = batch;
    for (const key of ["validation", "l2"]) {
      const v = parseValues($("f-" + key).value);
      if (v !== undefined) o[key] = v;
    }
    if ($("f-objective").value === "mlp") {
      o.hidden = $("f-hidden").value.split(",").map((x) => x.trim()).filter((x) => x !== "")
        .map((x) => (isFinite(Number(x)) ? Number(x) : x));
      o.activation = $("f-activation").value;
    }
    return o;
  }

  // The metrics the objective's entry lists that apply to what the form holds: a model's
  // validation metrics only with a validation share, its accuracies only for classes; each
  // labelled with its direction.
  function buildMetrics() {
    const obj = objective();
    const select = $("f-metric");
    const before = select.value;
    const validation = Number($("f-validation").value) > 0;
    const classes = dataset() ? dataset().task === "classification" : false;
    const metrics = (obj && obj.metrics ? obj.metrics : [{name: "final_loss", goal: "min"}])
      .filter((m) => !m.name.includes("val_") || (isModel() && validation &&
                                                   (!m.name.includes("accuracy") || classes)));
    select.replaceChildren(...metrics.map((m) => el("option", {
      value: m.name, text: m.name + (m.goal === "max" ? " (higher is better)" : "")})));
    if (metrics.some((m) => m.name === before)) select.value = before;
  }

  function objectiveChanged() {
    const obj = objective();
    if (!obj) return;
    $("objective-summary").textContent = obj.summary;
    $("expr-field").hidden = obj.name !== "expression";  // the one objective with a formula
    $("dim-field").hidden = isModel();
    $("model-fields").hidden = !isModel();
    $("hidden-field").hidden = obj.name !== "mlp";
    if (isModel()) {
      const before = $("f-dataset").value;
      $("f-dataset").replaceChildren(...obj.datasets.map((d) => el("option", {value: d.name,
        text: `${d.name} (${d.rows} × ${d.features}, ${d.classes ? d.classes + " classes" : "real target"})`})));
      if (obj.datasets.some((d) => d.name === before)) $("f-dataset").value = before;
    }
    buildMetrics();
    const dim = $("f-dim");
    dim.min = obj.min_dim;
    if (obj.max_dim !== null && obj.max_dim !== undefined) dim.max = obj.max_dim; else dim.removeAttribute("max");
    dim.value = obj.max_dim === 1 ? 1 : Math.max(2, obj.min_dim);
  }

  function clearErrors() {
    for (const node of document.querySelectorAll("[data-error-for]")) node.textContent = "";
  }

  // The error slot of a field: the exact one, else that of its longest named prefix
  // (grid.lr.0 → grid.lr, objective.name → objective), else the form's.
  function slotFor(field) {
    const slots = new Map([...document.querySelectorAll("[data-error-for]")]
      .map((n) => [n.dataset.errorFor, n]));
    if (field === "objective.name") return slots.get("objective");
    let path = field;
    while (path) {
      if (slots.has(path) && path !== "") return slots.get(path);
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    return $("form-error");
  }

  function showErrors(error) {
    const details = error && error.details && error.details.length ? error.details
      : [{field: "", message: error ? error.message : "the request failed"}];
    for (const d of details) {
      const slot = slotFor(d.field || "");
      const text = slot.id === "form-error" && d.field ? `${d.field}: ${d.message}` : d.message;
      slot.textContent = slot.textContent ? slot.textContent + "; " + text : text;
    }
  }

  async function submit(event) {
    event.preventDefault();
    clearErrors();
    $("submit").disabled = true;
    try {
      const response = await GS.api("/v1/sweeps", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(spec())});
      const body = await response.json().catch(() => null);
      if (response.ok && body) {
        window.location.assign("/sweeps/" + encodeURIComponent(body.id));
        return;
      }
      showErrors(body && body.error ? body.error : {message: `${response.status} ${response.statusText}`});
    } catch (e) {
      showErrors({message: "Could not reach the API: " + e.message});
    }
    $("submit").disabled = false;
  }

  async function start() {
    try {
      [optimizers, objectives] = await Promise.all([GS.json("/v1/optimizers"), GS.json("/v1/objectives")]);
    } catch (e) {
      $("form-error").textContent = "Could not load the catalogue: " + e.message;
      return;
    }
    $("f-optimizer").replaceChildren(...optimizers.map((o) => el("option", {value: o.name, text: o.name})));
    $("f-objective").replaceChildren(...objectives.map((o) => el("option", {value: o.name, text: o.name})));
    if (optimizers.some((o) => o.name === "adam")) $("f-optimizer").value = "adam";
    if (objectives.some((o) => o.name === "rosenbrock")) $("f-objective").value = "rosenbrock";
    buildHyperparameters();
    objectiveChanged();
    $("f-optimizer").addEventListener("change", () => { buildHyperparameters(); showSpec(); });
    $("f-objective").addEventListener("change", () => { objectiveChanged(); showSpec(); });
    for (const id of ["f-dataset", "f-validation"]) {
      $(id).addEventListener("input", () => { buildMetrics(); showSpec(); });
      $(id).addEventListener("change", () => { buildMetrics(); showSpec(); });
    }
    form.addEventListener("input", showSpec);
    form.addEventListener("change", showSpec);
    form.addEventListener("submit", submit);
    showSpec();
    form.dataset.ready = "1";
  }

  start();
})();
