"use strict";
// The new-sweep form: built from GET /v1/optimizers and /v1/objectives, shows the spec it will
// POST, and shows the API's 422 details next to the fields they name. An objective with datasets
// (a model) takes a dataset and its training fields instead of dim, which the API derives.
(() => {
  const {el} = GS;
  const $ = (x) => document.getElementById(x);
  const form = $("spec-form");
  let optimizers = [], objectives = [];
  let wantedMetric = null;  // the metric last chosen, chosen again when it is offered again

  const optimizer = () => optimizers.find((o) => o.name === $("f-optimizer").value);
  const objective = () => objectives.find((o) => o.name === $("f-objective").value);
  const isModel = (obj) => Boolean(obj && obj.datasets);
  const parameter = (obj, name) => (obj ? obj.parameters.find((p) => p.name === name) : undefined);
  const dataset = () => {
    const obj = objective();
    return isModel(obj) ? obj.datasets.find((d) => d.name === $("f-dataset").value) : undefined;
  };

  // "0.01, 0.1" → [0.01, 0.1]; "0.1" → 0.1; "" → undefined. What is not a number is sent as
  // typed, for the API to name in its 422.
  function parseValues(text) {
    const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const values = parts.map((s) => (s !== "" && isFinite(Number(s)) ? Number(s) : s));
    if (!values.length) return undefined;
    return values.length === 1 ? values[0] : values;
  }

  function parseNumber(text) {
    const t = text.trim();
    if (t === "") return undefined;
    return isFinite(Number(t)) ? Number(t) : t;
  }

  // the hidden widths: a list even of one ("32" → [32]); "" → undefined (the default layers)
  function parseList(text) {
    const v = parseValues(text);
    return v === undefined ? undefined : [].concat(v);
  }

  // A model's fields, by parameter: the input and how its text becomes the spec's value (a
  // select's value is always sent: it is what the form shows).
  const MODEL_FIELDS = {
    dataset: ["f-dataset", (t) => t],
    hidden: ["f-hidden", parseList],
    activation: ["f-activation", (t) => t],
    batch_size: ["f-batch-size", parseNumber],
    validation: ["f-validation", parseNumber],
    l2: ["f-l2", parseNumber],
  };

  function spec() {
    const s = {};
    const name = $("f-name").value.trim();
    if (name) s.name = name;
    s.objective = {name: $("f-objective").value};
    const obj = objective();
    if (isModel(obj)) {
      // in the catalogue's order; dim is derived, so never sent
      for (const p of obj.parameters) {
        if (!MODEL_FIELDS[p.name]) continue;
        const [input, parse] = MODEL_FIELDS[p.name];
        const v = parse($(input).value);
        if (v !== undefined) s.objective[p.name] = v;
      }
    } else {
      const dim = parseNumber($("f-dim").value);
      if (dim !== undefined) s.objective.dim = dim;
    }
    if (s.objective.name === "expression") s.objective.expr = $("f-expr").value;
    s.optimizer = $("f-optimizer").value;
    s.grid = {};
    for (const input of document.querySelectorAll("#hyperparameters input")) {
      const v = parseValues(input.value);
      if (v !== undefined) s.grid[input.dataset.param] = v;
    }
    for (const key of ["steps", "seeds"]) {
      const v = parseNumber($("f-" + key).value);
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

  function objectiveChanged() {
    const obj = objective();
    if (!obj) return;
    $("objective-summary").textContent = obj.summary;
    $("expr-field").hidden = obj.name !== "expression";  // the one objective with a formula
    $("dim-field").hidden = isModel(obj);
    $("model-fields").hidden = !isModel(obj);
    if (isModel(obj)) {
      modelFields(obj);
    } else {
      const dim = $("f-dim");
      dim.min = obj.min_dim;
      if (obj.max_dim !== null && obj.max_dim !== undefined) dim.max = obj.max_dim; else dim.removeAttribute("max");
      dim.value = obj.max_dim === 1 ? 1 : Math.max(2, obj.min_dim);
    }
    updateMetrics();
  }

  // The fields this model has, its datasets (the one chosen kept when this model takes it too)
  // and the catalogue's defaults as placeholders: an empty field takes the default.
  function modelFields(obj) {
    for (const div of document.querySelectorAll("#model-fields .model-field")) {
      div.hidden = !parameter(obj, div.dataset.param);
    }
    const select = $("f-dataset");
    const chosen = select.value;
    select.replaceChildren(...obj.datasets.map((d) => el("option", {value: d.name,
      text: `${d.name} — ${d.rows} rows, ${d.features} features, ` +
            (d.task === "classification" ? `${d.classes} classes` : "a real target")})));
    if (obj.datasets.some((d) => d.name === chosen)) select.value = chosen;
    const hidden = parameter(obj, "hidden");
    if (hidden && Array.isArray(hidden.default)) $("f-hidden").placeholder = "default " + hidden.default.join(", ");
    for (const name of ["validation", "l2"]) {
      const p = parameter(obj, name);
      if (p && p.default !== null && p.default !== undefined) $(MODEL_FIELDS[name][0]).placeholder = "default " + p.default;
    }
  }

  // The chosen objective's metrics as the form stands: the validation ones only with validation
  // over 0, the accuracies only on a classification dataset (as the API checks).
  function metricsOffered() {
    const obj = objective();
    const all = obj && obj.metrics ? obj.metrics : [{name: "final_loss", goal: "min"}];
    if (!isModel(obj)) return all;
    const v = parseNumber($("f-validation").value);
    const validation = typeof v === "number" && v > 0;
    const ds = dataset();
    const classes = Boolean(ds && ds.task === "classification");
    return all.filter((m) => !m.name.includes("val_") ||
                             (validation && (!m.name.includes("accuracy") || classes)));
  }

  function updateMetrics() {
    const select = $("f-metric");
    const offered = metricsOffered();
    const names = offered.map((m) => m.name);
    if (select.dataset.offered !== names.join()) {
      const chosen = select.value;
      select.replaceChildren(...offered.map((m) => el("option", {value: m.name, "data-goal": m.goal,
        text: m.goal === "max" ? `${m.name} (higher is better)` : m.name})));
      select.dataset.offered = names.join();
      if (names.includes(chosen)) select.value = chosen;
    }
    if (wantedMetric && names.includes(wantedMetric)) select.value = wantedMetric;
  }

  function clearErrors() {
    for (const node of document.querySelectorAll("[data-error-for]")) node.textContent = "";
  }

  // The error slot of a field: the exact one, else that of its longest named prefix
  // (grid.lr.0 → grid.lr, objective.dataset.builtin → objective.dataset, objective.name →
  // objective), else the form's. A check across fields is reported on the object it spans
  // (objective, spec) with the field it is about first ("batch_size = 1000 is over the 120
  // training rows", "metric … does not apply"): that field's slot, when it is shown.
  function slotFor(field, message) {
    const slots = new Map([...document.querySelectorAll("[data-error-for]")]
      .map((n) => [n.dataset.errorFor, n]));
    const shown = (path) => slots.has(path) && !slots.get(path).closest("[hidden]");
    if (field === "objective.name") return slots.get("objective");
    if (["objective", "spec", ""].includes(field)) {
      const word = (/^([a-z][a-z0-9_]*)\b/.exec(message) || [])[1];
      const named = field === "objective" ? ["objective." + word] : [word, "objective." + word];
      const path = word && named.find(shown);
      if (path) return slots.get(path);
    }
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
      const message = String(d.message || "").replace(/^Value error, /, "");  // pydantic's prefix
      const slot = slotFor(d.field || "", message);
      const text = slot.id === "form-error" && d.field ? `${d.field}: ${message}` : message;
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
    $("f-metric").addEventListener("change", () => { wantedMetric = $("f-metric").value; });
    // the metrics offered follow the validation share and the dataset
    const refresh = () => { updateMetrics(); showSpec(); };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    form.addEventListener("submit", submit);
    showSpec();
    form.dataset.ready = "1";
  }

  start();
})();
