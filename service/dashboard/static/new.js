"use strict";
// The new-sweep form: built from GET /v1/optimizers, /v1/objectives and /v1/schedules, shows
// the spec it will POST, and shows the API's 422 details next to the fields they name. An
// objective with datasets (a model) takes a dataset and its training fields instead of dim,
// which the API derives. One optimizer entry or more, each with its rule, eps placement (where
// the rule has the option), grid, schedule and clipping: one posts the single form (optimizer,
// grid, schedule, clip at the top), two or more the optimizers form. Early stopping, when a
// kind is chosen, posts pruning: {kind, min_steps, reduction}. Every other key of the spec has
// its field too (the objective's own parameters, from the catalogue; init; seeds; record_every;
// divergence_threshold; samples, search_seed and sampler): an empty field is left out of the
// spec, so the API's default applies (shown as the placeholder).
(() => {
  const {el} = GS;
  const $ = (x) => document.getElementById(x);
  const form = $("spec-form");
  let optimizers = [], objectives = [], schedules = [];
  let wantedMetric = null;  // the metric last chosen, chosen again when it is offered again

  const objective = () => objectives.find((o) => o.name === $("f-objective").value);
  const isModel = (obj) => Boolean(obj && obj.datasets);
  const parameter = (obj, name) => (obj ? obj.parameters.find((p) => p.name === name) : undefined);
  const dataset = () => {
    const obj = objective();
    return isModel(obj) ? obj.datasets.find((d) => d.name === $("f-dataset").value) : undefined;
  };

  // "0.01, 0.1" → [0.01, 0.1]; "0.1" → 0.1; "" → undefined; "uniform(0.5, 0.99)" → a
  // distribution {distribution, min, max} to sample. What is not a number is sent as typed,
  // for the API to name in its 422.
  const DISTRIBUTION = /^([A-Za-z_]\w*)\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)$/;
  function parseValues(text) {
    const sampled = DISTRIBUTION.exec(text.trim());
    if (sampled) {
      return {distribution: sampled[1], min: parseNumber(sampled[2]), max: parseNumber(sampled[3])};
    }
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

  // seeds: one number is a count ("3": seeds 0, 1, 2), a comma makes a list ("3, 7"; "7,")
  function parseSeeds(text) {
    if (!text.includes(",")) return parseNumber(text);
    return parseList(text.replace(/,\s*$/, ""));
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

  // The objective's parameters with a field of their own (dim, the formula, a model's); every
  // other parameter the catalogue lists gets a text field in #objective-params.
  const OWN_FIELDS = Object.assign({dim: ["f-dim", parseNumber], expr: ["f-expr", (t) => t]},
                                   MODEL_FIELDS);
  const objectiveInput = (name) => (OWN_FIELDS[name] ? $(OWN_FIELDS[name][0])
    : document.querySelector(`#objective-params input[data-param="${name}"]`));

  // the spec's top-level keys taken as typed numbers, each left out when empty
  const NUMBERS = [["steps", "f-steps", parseNumber], ["seeds", "f-seeds", parseSeeds],
                   ["record_every", "f-record-every", parseNumber],
                   ["divergence_threshold", "f-divergence", parseNumber],
                   ["samples", "f-samples", parseNumber], ["search_seed", "f-search-seed", parseNumber]];

  function spec() {
    const s = {};
    const name = $("f-name").value.trim();
    if (name) s.name = name;
    s.objective = {name: $("f-objective").value};
    const obj = objective();
    // in the catalogue's order; a model's dim is derived (the catalogue does not list it)
    for (const p of obj ? obj.parameters : []) {
      const input = objectiveInput(p.name);
      if (!input) continue;
      const parse = OWN_FIELDS[p.name] ? OWN_FIELDS[p.name][1] : parseNumber;
      const v = parse(input.value);
      if (v !== undefined) s.objective[p.name] = v;
    }
    const init = initSpec();
    if (init !== undefined) s.init = init;
    const entries = blocks().map(entrySpec);
    if (entries.length === 1) Object.assign(s, entries[0]);
    else s.optimizers = entries;
    for (const [key, input, parse] of NUMBERS) {
      const v = parse($(input).value);
      if (v !== undefined) s[key] = v;
    }
    if ($("f-sampler").value) s.sampler = $("f-sampler").value;
    s.metric = $("f-metric").value;
    const pruning = pruningSpec();
    if (pruning) s.pruning = pruning;
    return s;
  }

  // --- init -------------------------------------------------------------------------------
  // none: the objective's start; a point: its numbers; random: {distribution, scale?, center?}
  function initSpec() {
    const kind = $("f-init-kind").value;
    if (kind === "point") {
      const text = $("f-init").value.trim();
      return text === "" ? undefined : parseList(text);
    }
    if (kind !== "normal" && kind !== "uniform") return undefined;
    const init = {distribution: kind};
    const scale = parseNumber($("f-init-scale").value);
    if (scale !== undefined) init.scale = scale;
    const center = $("f-init-center").value.trim();
    if (center !== "") init.center = parseList(center);
    return init;
  }

  // the objective's start as the point's and the center's placeholder, when it has this dim
  function initPlaceholders() {
    const obj = objective();
    const dim = parseNumber($("f-dim").value);
    const start = obj && Array.isArray(obj.start) && !isModel(obj) && obj.start.length === dim
      ? obj.start.join(", ") : "";
    $("f-init").placeholder = start ? `e.g. the objective's start: ${start}` : "dim numbers";
    $("f-init-center").placeholder = start ? `default: the objective's start, ${start}` : "default: the objective's start";
  }

  // --- early stopping ---------------------------------------------------------------------
  // none: no pruning key; else its kind, and min_steps and reduction as typed (the API checks
  // min_steps against steps and record_every, and names pruning.min_steps in its message)
  function pruningSpec() {
    const kind = $("f-pruning-kind").value;
    if (!kind) return undefined;
    const p = {kind};
    for (const [key, input] of [["min_steps", "f-pruning-min-steps"], ["reduction", "f-pruning-reduction"]]) {
      const v = parseNumber($(input).value);
      if (v !== undefined) p[key] = v;
    }
    return p;
  }

  // the rungs the fields give (r, r·η, … below steps), as a hint before submitting
  function showRungs(s) {
    $("pruning-options").hidden = !s.pruning;
    const p = s.pruning;
    const note = $("pruning-rungs");
    if (!p) { note.textContent = ""; return; }
    const {min_steps: r, reduction: eta} = p;
    const whole = (x) => Number.isInteger(x) && x > 0;
    if (!whole(r) || !whole(eta) || eta < 2 || !whole(s.steps)) { note.textContent = ""; return; }
    const rungs = [];
    for (let step = r; step < s.steps && rungs.length < 64; step *= eta) rungs.push(step);
    note.textContent = rungs.length
      ? `rungs at step ${rungs.join(", ")} of ${s.steps}`
      : `no rung: min steps must be below the ${s.steps} steps`;
  }

  // the settings of a spec: each entry's grid points times its schedule's and clip's lists,
  // times the samples when one of them is a distribution
  const sampledValue = (v) => Boolean(v) && typeof v === "object" && !Array.isArray(v);
  const points = (e, samples) => {
    const values = [...Object.values(e.grid || {}), ...Object.values(e.clip || {}),
                    ...Object.entries(e.schedule || {}).filter(([k]) => k !== "name").map(([, v]) => v)];
    const lists = values.reduce((n, v) => n * (Array.isArray(v) ? v.length : 1), 1);
    return values.some(sampledValue) ? lists * samples : lists;
  };

  function showSpec() {
    renumber();
    const s = spec();
    showRungs(s);
    const initKind = $("f-init-kind").value;  // the fields of the init kind chosen
    $("init-point").hidden = initKind !== "point";
    $("init-random").hidden = initKind !== "normal" && initKind !== "uniform";
    $("spec-json").textContent = JSON.stringify(s, null, 2);
    const samples = Number.isInteger(s.samples) && s.samples > 0 ? s.samples : 1;
    const settings = (s.optimizers || [s]).reduce((n, e) => n + points(e, samples), 0);
    const seeds = Array.isArray(s.seeds) ? s.seeds.length : typeof s.seeds === "number" ? s.seeds : 1;
    $("trial-count").textContent = `${settings * seeds} trial(s)`;
  }

  // --- optimizer entries ------------------------------------------------------------------
  // An entry's controls carry data-part (their id follows the entry's place: f-optimizer,
  // f-grid-lr for the first, as the single form always had; f1-optimizer, f1-grid-lr for the
  // second, …) and its error slots data-error-rel (grid.lr), prefixed optimizers.<i>. when the
  // form posts the optimizers form, so that the API's field names find them.
  const LR_VALUES = "0.001, 0.01, 0.1";  // a first grid to start from
  const idFor = (i, part) => (i ? `f${i}-${part}` : `f-${part}`);
  const blocks = () => [...document.querySelectorAll("#entries .entry")];
  const rule = (name) => optimizers.find((o) => o.name === name);
  const slot = (rel) => el("span", {class: "field-error", "data-error-rel": rel});
  const label = (part, text, hint) => el("label", {"data-for-part": part}, text,
    hint ? el("span", {class: "hint", text: " " + hint}) : null);

  function renumber() {
    const all = blocks();
    all.forEach((block, i) => {
      block.dataset.entry = i;
      block.querySelector("legend .entry-title").textContent = `Optimizer ${i + 1}`;
      block.querySelector(".remove-optimizer").hidden = all.length < 2;
      for (const node of block.querySelectorAll("[data-part]")) node.id = idFor(i, node.dataset.part);
      for (const node of block.querySelectorAll("[data-for-part]")) node.htmlFor = idFor(i, node.dataset.forPart);
      const prefix = all.length > 1 ? `optimizers.${i}.` : "";
      for (const node of block.querySelectorAll("[data-error-rel]")) {
        node.dataset.errorFor = prefix + node.dataset.errorRel;
      }
    });
  }

  // what the entry posts: its rule (with eps_placement when not the rule's default), grid,
  // schedule and clip when chosen
  function entrySpec(block) {
    const name = block.querySelector("[data-part=optimizer]").value;
    const eps = block.querySelector("[data-part=eps]");
    const e = {optimizer: !eps.closest("[hidden]") && eps.value !== eps.dataset.default
      ? {name, eps_placement: eps.value} : name};
    e.grid = values(block.querySelectorAll(".grid-fields input[data-param]"));
    const schedule = block.querySelector("[data-part=schedule]").value;
    if (schedule) {
      e.schedule = Object.assign({name: schedule},
                                 values(block.querySelectorAll(".schedule-fields input[data-param]")));
    }
    const clip = block.querySelector("[data-part=clip]").value;
    if (clip) {
      const v = parseValues(block.querySelector("[data-part=clip-limit]").value);
      e.clip = {[clip]: v === undefined ? null : v};
    }
    return e;
  }

  function values(inputs) {
    const out = {};
    for (const input of inputs) {
      const v = parseValues(input.value);
      if (v !== undefined) out[input.dataset.param] = v;
    }
    return out;
  }

  // A text field per parameter (a rule's hyperparameter or a schedule's), the catalogue's
  // default as its placeholder; the values typed before are kept for the names that stay.
  function parameterFields(kind, params, typed, rel, placeholder) {
    return params.map((p) => {
      const part = `${kind}-${p.name}`;
      const input = el("input", {"data-part": part, type: "text", autocomplete: "off",
                                 "data-param": p.name, placeholder: placeholder(p)});
      input.value = typed[p.name] ?? "";
      return el("div", {class: "hyperparameter"},
        label(part, p.name, `${p.range}${p.integer ? " (a whole number)" : ""} — ${p.description}`),
        input, slot(`${rel}.${p.name}`));
    });
  }

  const typedIn = (box) => Object.fromEntries([...box.querySelectorAll("input[data-param]")]
    .map((input) => [input.dataset.param, input.value]));

  function ruleChanged(block) {
    const opt = rule(block.querySelector("[data-part=optimizer]").value);
    const eps = block.querySelector("[data-part=eps]");
    const option = opt && opt.options && opt.options.eps_placement;
    eps.closest(".eps-field").hidden = !option;
    if (option) {
      const fallback = opt.default_eps_placement || option.default;
      eps.dataset.default = fallback;
      eps.replaceChildren(...option.choices.map((c) => el("option", {value: c,
        text: c === fallback ? `${c} (default)` : c})));
      eps.value = fallback;
    }
    epsChanged(block);
    const box = block.querySelector(".grid-fields");
    const typed = typedIn(box);
    if (!box.children.length) typed.lr = LR_VALUES;
    box.replaceChildren(...parameterFields("grid", opt ? opt.hyperparameters : [], typed, "grid",
      (h) => `default ${h.default}`));
  }

  // the rule's summary and its formula with the eps placement chosen
  function epsChanged(block) {
    const opt = rule(block.querySelector("[data-part=optimizer]").value);
    if (!opt) return;
    const eps = block.querySelector("[data-part=eps]");
    const option = opt.options && opt.options.eps_placement;
    const formula = option && !eps.closest("[hidden]") ? option["formula_" + eps.value] || opt.formula : opt.formula;
    block.querySelector(".rule-summary").textContent = `${opt.summary} (${opt.reference})`;
    block.querySelector(".rule-formula").textContent = formula;
  }

  function scheduleChanged(block) {
    const chosen = schedules.find((s) => s.name === block.querySelector("[data-part=schedule]").value);
    block.querySelector(".schedule-formula").textContent = chosen ? `${chosen.formula} — torch: ${chosen.torch}` : "";
    const box = block.querySelector(".schedule-fields");
    box.replaceChildren(...parameterFields("schedule", chosen ? chosen.parameters : [], typedIn(box),
      "schedule", (p) => (p.default === null ? "required" : p.default === "steps"
        ? "default: the sweep's steps" : `default ${p.default}`)));
  }

  function clipChanged(block) {
    block.querySelector(".clip-field").hidden = !block.querySelector("[data-part=clip]").value;
  }

  // a new entry: the first rule of the catalogue no entry has yet (the first one: adam)
  function addEntry() {
    const used = new Set(blocks().map((b) => b.querySelector("[data-part=optimizer]").value));
    const first = !used.size && rule("adam") ? "adam"
      : (optimizers.find((o) => !used.has(o.name)) || optimizers[0]).name;
    const select = el("select", {"data-part": "optimizer"},
      ...optimizers.map((o) => el("option", {value: o.name, text: o.name})));
    select.value = first;
    const remove = el("button", {type: "button", class: "remove-optimizer", text: "remove"});
    const block = el("fieldset", {class: "entry"},
      el("legend", {}, el("span", {class: "entry-title"}), " ", remove),
      label("optimizer", "Rule"), select, slot("optimizer"),
      el("p", {class: "hint muted rule-summary"}), el("p", {class: "hint formula rule-formula"}),
      el("div", {class: "eps-field", hidden: true},
         label("eps", "eps placement", "(where eps is added: inside or outside the square root)"),
         el("select", {"data-part": "eps"}), slot("optimizer.eps_placement")),
      el("div", {class: "grid-block"},
         el("p", {class: "hint", text: "Grid: comma-separated values are swept; one value is fixed; " +
                  "a distribution such as log_uniform_values(1e-4, 0.3) is sampled (see Random search); empty takes the default"}),
         el("div", {class: "grid-fields"}), slot("grid")),
      label("schedule", "Learning-rate schedule"),
      el("select", {"data-part": "schedule"}, el("option", {value: "", text: "none (a constant lr)"}),
         ...schedules.map((s) => el("option", {value: s.name, text: s.name}))),
      el("p", {class: "hint formula schedule-formula"}),
      el("div", {class: "schedule-fields"}), slot("schedule"),
      label("clip", "Gradient clipping"),
      el("select", {"data-part": "clip"}, el("option", {value: "", text: "none"}),
         el("option", {value: "global_norm", text: "global norm (scale g to norm ≤ M)"}),
         el("option", {value: "value", text: "value (clamp each component to [−c, c])"})),
      el("div", {class: "clip-field", hidden: true},
         label("clip-limit", "Limit", "(> 0; comma-separated values are swept)"),
         el("input", {"data-part": "clip-limit", type: "text", autocomplete: "off", value: "1.0"})),
      slot("clip"));
    select.addEventListener("change", () => ruleChanged(block));
    block.querySelector("[data-part=eps]").addEventListener("change", () => epsChanged(block));
    block.querySelector("[data-part=schedule]").addEventListener("change", () => scheduleChanged(block));
    block.querySelector("[data-part=clip]").addEventListener("change", () => clipChanged(block));
    remove.addEventListener("click", () => { block.remove(); showSpec(); });
    $("entries").append(block);
    ruleChanged(block);
    showSpec();
  }

  function objectiveChanged() {
    const obj = objective();
    if (!obj) return;
    $("objective-summary").textContent = obj.summary;
    $("expr-field").hidden = !parameter(obj, "expr");  // the one objective with a formula
    $("dim-field").hidden = isModel(obj);
    objectiveParameterFields(obj);
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

  // A text field per parameter of the objective that has no field of its own (rosenbrock's a
  // and b, quadratic's condition, …): the catalogue's default as its placeholder, its bounds
  // and description as the hint; typed values are kept while the objective stays the same.
  function objectiveParameterFields(obj) {
    const box = $("objective-params");
    const typed = box.dataset.objective === obj.name ? typedIn(box) : {};
    box.dataset.objective = obj.name;
    const BOUNDS = {gt: ">", ge: "≥", lt: "<", le: "≤"};
    box.replaceChildren(...obj.parameters.filter((p) => !OWN_FIELDS[p.name]).map((p) => {
      const id = `f-objective-${p.name}`;
      const bounds = Object.entries(BOUNDS).filter(([k]) => typeof p[k] === "number" && Math.abs(p[k]) < 1e15)
        .map(([k, sign]) => `${p.name} ${sign} ${p[k]}`)
        .filter((text) => !(p.description || "").includes(text)).join(", ");
      const input = el("input", {id, type: "text", autocomplete: "off", "data-param": p.name,
        placeholder: p.required ? "required" : `default ${p.default}`});
      input.value = typed[p.name] ?? "";
      return el("div", {class: "objective-param"},
        el("label", {for: id}, p.name, el("span", {class: "hint",
          text: ` (${[p.description, bounds].filter(Boolean).join("; ")})`})),
        input, el("span", {class: "field-error", "data-error-for": `objective.${p.name}`}));
    }));
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

  // The error slot of a 422 detail, by its field (the pydantic loc as a dotted path, "spec"
  // for the whole spec) and the name its message starts with. A check over a whole object is
  // reported on the object, naming the field it is about first: "lr = -1.0 is out of range"
  // on grid is grid.lr's (not the slot under the grid's last hyperparameter), "batch_size =
  // 1000 is over …" on objective is objective.batch_size's, "schedule.step_size = -1 …" on
  // optimizers.1.schedule is optimizers.1.schedule.step_size's, "metric … does not apply" on
  // spec is metric's. Tried in turn: that name below the field (and each shorter prefix of
  // it), the name on its own, then the field and its prefixes (grid.lr.1 → grid.lr,
  // objective.name → objective). Only a slot on show counts; else the general area on top,
  // so no message is lost.
  const LEADING_NAME = /^([A-Za-z_]\w*(?:\.(?:[A-Za-z_]\w*|\d+))*)(?=$|[\s:=,;])/;
  function slotFor(field, message) {
    const slots = new Map([...document.querySelectorAll("[data-error-for]")]
      .filter((n) => n.id !== "form-error" && !n.closest("[hidden]"))
      .map((n) => [n.dataset.errorFor, n]));
    const parts = field && field !== "spec" ? field.split(".") : [];
    // the name the message starts with, and the one a missing hyperparameter's names
    const names = [LEADING_NAME.exec(message), /\bneeds (\w+) in the grid\b/.exec(message)]
      .filter(Boolean).map((m) => m[1]);
    const candidates = [];
    for (const words of names.map((name) => name.split("."))) {
      for (let n = words.length; n > 0; n--) {
        const w = words.slice(0, n);
        if (parts.length && parts[parts.length - 1] === w[0]) candidates.push([...parts, ...w.slice(1)]);
        candidates.push([...parts, ...w], w);
        if (!parts.length) candidates.push(["objective", ...w]);
      }
    }
    for (let n = parts.length; n > 0; n--) candidates.push(parts.slice(0, n));
    const found = candidates.map((c) => c.join(".")).find((path) => slots.has(path));
    return found === undefined ? $("form-error") : slots.get(found);
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
    if (error && error.more) {
      const note = `(and ${error.more} more problems not listed)`;
      $("form-error").textContent = [$("form-error").textContent, note].filter(Boolean).join(" ");
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
      [optimizers, objectives, schedules] = await Promise.all([
        GS.json("/v1/optimizers"), GS.json("/v1/objectives"), GS.json("/v1/schedules")]);
    } catch (e) {
      $("form-error").textContent = "Could not load the catalogue: " + e.message;
      return;
    }
    $("f-objective").replaceChildren(...objectives.map((o) => el("option", {value: o.name, text: o.name})));
    if (objectives.some((o) => o.name === "rosenbrock")) $("f-objective").value = "rosenbrock";
    addEntry();
    objectiveChanged();
    initPlaceholders();
    $("add-optimizer").addEventListener("click", addEntry);
    $("f-objective").addEventListener("change", () => { objectiveChanged(); initPlaceholders(); showSpec(); });
    $("f-dim").addEventListener("input", initPlaceholders);
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
