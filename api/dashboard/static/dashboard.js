// defectgen dashboard. Hand-written and dependency-free on purpose: the service must work without internet and
// has no JavaScript build step, so no chart or UI library can be loaded (none ships without a CDN or a bundler).
// The pages call the REST API itself; the browser's session cookie signs those requests in (api/deps.py).
"use strict";

const POLL_MS = 1500;
const MAX_EVENT_ROWS = 300;
const FINAL = ["succeeded", "failed", "cancelled"];
const PAGES = { ds: "datasets", mdl: "models", bat: "batches", rpt: "reports", job: "jobs" };

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = (response.headers.get("content-type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) throw Object.assign(new Error(body?.detail || response.statusText), { problem: body, response });
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function linked(value) {
  if (typeof value === "string" && PAGES[value.split("_")[0]] && value.includes("_")) {
    return el("a", { href: `/ui/${PAGES[value.split("_")[0]]}/${value}` }, value);
  }
  return typeof value === "object" && value !== null ? el("code", {}, JSON.stringify(value)) : String(value ?? "–");
}

function pairsTable(mapping) {
  return el("table", { class: "pairs" }, ...Object.entries(mapping).map(([k, v]) => el("tr", {}, el("th", {}, k),
    el("td", {}, linked(v)))));
}

// A problem+json answer: its detail, and one row per error; `where` names the errors' subject (file or field).
function showProblem(box, error, where) {
  const problem = error.problem || { title: "Request failed", detail: error.message };
  box.replaceChildren(el("p", {}, el("b", {}, `${problem.status || ""} ${problem.title || ""}`), " ", problem.detail || ""));
  if (problem.errors?.length) {
    const rows = problem.errors.map((e) => el("tr", {}, el("td", {}, el("code", {}, where(e.loc || []))),
      el("td", {}, e.msg)));
    box.append(el("table", { class: "errors" }, ...rows));
  }
  box.hidden = false;
}

// ---- upload: drag and drop a zip, or choose one; the same POST /v1/datasets as any client
function setUpUpload(form) {
  const state = form.querySelector("[data-upload-state]");
  const box = document.getElementById("upload-errors");
  const send = async (file) => {
    const body = new FormData();
    body.append("file", file);
    const name = form.querySelector("[name=name]").value.trim();
    if (name) body.append("name", name);
    state.textContent = `uploading ${file.name} (${Math.round(file.size / 1024)} KiB) and checking every image…`;
    box.hidden = true;
    try {
      const dataset = await api("/v1/datasets", { method: "POST", body });
      window.location = `/ui/datasets/${dataset.id}`;
    } catch (error) {
      state.textContent = `${file.name} was refused; nothing was stored.`;
      showProblem(box, error, (loc) => (loc[0] === "file" && loc.length > 1 ? loc.slice(1).join("/") : loc.join(" ")));
    }
  };
  form.addEventListener("dragover", (event) => { event.preventDefault(); form.classList.add("over"); });
  form.addEventListener("dragleave", () => form.classList.remove("over"));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("over");
    if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
  });
  form.querySelector("[type=file]").addEventListener("change", (event) => {
    if (event.target.files.length) send(event.target.files[0]);
  });
  form.addEventListener("submit", (event) => event.preventDefault());
}

// ---- job forms: the kind's schema rendered by the server; only values that differ from a default are sent
function fieldValue(input) {
  const widget = input.dataset.widget;
  if (widget === "boolean") return input.checked;
  const text = input.value.trim();
  if (text === "") return undefined;
  if (widget === "integer" || widget === "number") return Number(text);
  if (widget === "string") return text;
  try {
    return JSON.parse(text); // a choice's value is JSON; so is a json field
  } catch {
    throw Object.assign(new Error(`${input.dataset.name}: not valid JSON`), {
      problem: { title: "Invalid form", detail: `${input.dataset.name} must be JSON`,
        errors: [{ loc: ["body", "params", input.dataset.name], msg: "not valid JSON" }] } });
  }
}

function formParams(form) {
  const params = {};
  const variant = form.querySelector("[data-variant-select]");
  if (variant?.value) params[form.dataset.discriminator] = variant.value; // "" leaves the choice to the service
  const scope = form.querySelector("fieldset:not([disabled])");
  for (const input of scope.querySelectorAll("[data-name]")) {
    const value = fieldValue(input);
    if (value === undefined) continue;
    const fallback = input.dataset.default;
    if (fallback !== undefined && JSON.stringify(value) === JSON.stringify(JSON.parse(fallback))) continue;
    params[input.dataset.name] = value;
  }
  return params;
}

function setUpJobForm(form) {
  const variant = form.querySelector("[data-variant-select]");
  variant?.addEventListener("change", () => {
    for (const set of form.querySelectorAll("fieldset[data-variant]")) {
      set.hidden = set.disabled = set.dataset.variant !== (variant.value || variant.dataset.defaultVariant);
    }
  });
  const box = document.getElementById("job-errors");
  const state = form.querySelector("[data-form-state]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelectorAll(".bad").forEach((node) => node.classList.remove("bad"));
    box.hidden = true;
    try {
      const body = JSON.stringify({ kind: form.dataset.kind, params: formParams(form) });
      state.textContent = "submitting…";
      const job = await api("/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body });
      window.location = `/ui/jobs/${job.id}`;
    } catch (error) {
      state.textContent = "";
      showProblem(box, error, (loc) => loc.slice(loc[1] === "params" ? 2 : 1).join("."));
      for (const e of error.problem?.errors || []) {
        const name = e.loc?.[1] === "params" ? e.loc[2] : null;
        form.querySelector(`fieldset:not([disabled]) [data-name="${name}"]`)?.closest("label")?.classList.add("bad");
      }
    }
  });
}

// ---- progress bars and statuses, in the jobs tables and on a job's page
function showProgress(root, job) {
  const fraction = job.progress?.fraction || 0;
  root.querySelectorAll("[data-progress]").forEach((bar) => {
    bar.firstElementChild.style.width = `${(fraction * 100).toFixed(1)}%`;
    bar.title = `${(fraction * 100).toFixed(1)}%`;
  });
  root.querySelectorAll("[data-status]").forEach((badge) => {
    badge.textContent = job.status;
    badge.className = `status ${job.status}`;
  });
  root.querySelectorAll("[data-step]").forEach((node) => {
    node.textContent = `${job.progress?.step || 0}/${job.progress?.total_steps ?? "–"}`;
  });
}

function jobRow(job) {
  const row = el("tr", { "data-job-id": job.id },
    el("td", {}, el("a", { href: `/ui/jobs/${job.id}` }, job.id)), el("td", {}, job.kind),
    el("td", {}, el("span", { class: "status", "data-status": "" })),
    el("td", { class: "progress-cell" }, el("div", { class: "bar", "data-progress": "" }, el("div")), " ",
      el("span", { class: "quiet", "data-step": "" })),
    el("td", {}, new Date(job.created_at).toLocaleString()));
  showProgress(row, job);
  return row;
}

function setUpJobList(table) {
  const query = new URLSearchParams(window.location.search);
  const filters = ["status", "kind"].filter((k) => query.get(k)).map((k) => `&${k}=${encodeURIComponent(query.get(k))}`);
  const body = table.tBodies[0];
  const limit = Math.max(body.querySelectorAll("tr[data-job-id]").length, 8);
  const tick = async () => {
    try {
      const page = await api(`/v1/jobs?limit=${limit}${filters.join("")}`);
      for (const job of [...page.items].reverse()) {
        let row = body.querySelector(`tr[data-job-id="${job.id}"]`);
        if (!row && !query.get("cursor")) {
          body.querySelector("tr.empty")?.remove();
          row = body.insertBefore(jobRow(job), body.firstChild);
        }
        if (row) showProgress(row, job);
      }
    } finally {
      setTimeout(tick, 2000);
    }
  };
  setTimeout(tick, 2000);
}

// ---- curves: small multiples of SVG line charts, one per metric, from the job's events
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function drawChart(box, name, points) {
  const [w, h, pad] = [260, 120, 4];
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (w - 2 * pad);
  const sy = (y) => h - pad - ((y - y0) / (y1 - y0 || 1)) * (h - 2 * pad);
  const line = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", "data-points": points.length });
  chart.append(svg("line", { x1: pad, x2: w - pad, y1: h - pad, y2: h - pad, stroke: "#dde2ea" }),
    svg("path", { d: line, fill: "none", stroke: "#2f6fdf", "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" }));
  const last = ys[ys.length - 1];
  box.replaceChildren(el("div", { class: "title" }, el("b", {}, name), el("span", {}, last.toPrecision(4))), chart,
    el("div", { class: "range" }, `${y0.toPrecision(3)} … ${y1.toPrecision(3)} over steps ${x0}–${x1}`));
}

// Metric events carry the training loop's figures (losses, augment_p, k_t, m_global, the latest diversity);
// eval events one measured metric (KID, FID or SIFID) each.
function collectSeries(series, event) {
  const add = (name, value) => {
    if (typeof value !== "number" || !Number.isFinite(value) || event.step === null) return;
    (series[name] ||= []).push([event.step, value]);
  };
  if (event.type === "metrics") {
    for (const [name, value] of Object.entries(event.data)) add(name, value);
  } else if (event.type === "eval") {
    add(event.data.metric, event.data.value);
  }
}

const brief = (data) => JSON.stringify(data, (_, v) => (typeof v === "number" ? Number(v.toPrecision(4)) : v));

// ---- a sweep's leaderboard, rendered by the server (api/dashboard/leaderboard.py) and fetched again each tick
// The result keys that the leaderboard shows, named by the page (data-shown-elsewhere), stay out of its table.
function shownResult(job, elsewhere) {
  return Object.fromEntries(Object.entries(job.result).filter(([key]) => !elsewhere.includes(key)));
}

async function refreshLeaderboard(id) {
  const response = await fetch(`/ui/jobs/${id}/leaderboard`, { credentials: "same-origin" });
  if (response.ok) document.getElementById("leaderboard").innerHTML = await response.text();
}

// ---- a job's page: progress, curves, sample grids and events, polled until the job ends
function setUpJob(root) {
  const id = root.dataset.jobId;
  const elsewhere = JSON.parse(root.dataset.shownElsewhere || "[]");
  const series = {};
  const charts = document.getElementById("charts");
  const eventsBody = document.querySelector("#events tbody");
  const slider = document.getElementById("sample-step");
  const image = document.getElementById("sample-image");
  let samples = [];
  let cursor = null;
  let final = root.dataset.final === "true";

  const showSample = () => {
    const sample = samples[Number(slider.value)];
    if (!sample) return;
    image.src = sample.url;
    document.querySelector("[data-sample-label]").textContent = `${sample.step}`;
  };
  slider.addEventListener("input", showSample);

  const refreshSamples = async () => {
    const atEnd = Number(slider.value) >= samples.length - 1;
    samples = await api(`/v1/jobs/${id}/samples`);
    if (!samples.length) return;
    document.getElementById("samples").hidden = false;
    slider.max = samples.length - 1;
    if (atEnd) slider.value = samples.length - 1;
    showSample();
  };

  const readEvents = async () => {
    let fresh = [];
    for (;;) {
      const page = await api(`/v1/jobs/${id}/events?limit=500${cursor ? `&cursor=${cursor}` : ""}`);
      fresh = fresh.concat(page.items);
      if (page.items.length) cursor = page.items[page.items.length - 1].id;
      if (!page.next_cursor) break;
    }
    for (const event of fresh) {
      collectSeries(series, event);
      eventsBody.insertBefore(el("tr", {}, el("td", {}, event.id), el("td", {}, event.type),
        el("td", {}, event.step ?? "–"), el("td", {}, el("code", { title: JSON.stringify(event.data) }, brief(event.data))),
        el("td", {}, new Date(event.created_at).toLocaleTimeString())), eventsBody.firstChild);
    }
    while (eventsBody.rows.length > MAX_EVENT_ROWS) eventsBody.lastChild.remove();
    if (fresh.some((e) => ["metrics", "eval"].includes(e.type))) {
      for (const [name, points] of Object.entries(series)) {
        let box = charts.querySelector(`[data-series="${name}"]`);
        if (!box) charts.append(box = el("div", { class: "chart", "data-series": name }));
        drawChart(box, name, points);
      }
      document.querySelector("[data-charts-empty]").hidden = true;
    }
    if (fresh.some((e) => e.type === "sample")) await refreshSamples();
  };

  const showJob = (job) => {
    showProgress(root, job);
    const eta = job.progress?.eta_seconds;
    root.querySelector("[data-eta]").textContent = eta !== null && eta !== undefined && job.status === "running"
      ? `ETA ${Math.round(eta)} s` : "";
    root.querySelector("[data-message]").textContent = job.progress?.message || "";
    const error = root.querySelector("[data-error]");
    error.hidden = !job.error;
    if (job.error) error.textContent = `${job.error.code}: ${job.error.message}`;
    const result = root.querySelector("[data-result]");
    if (job.result) result.replaceChildren(el("h2", {}, "Result"), pairsTable(shownResult(job, elsewhere)));
    result.hidden = !job.result;
    document.getElementById("cancel").hidden = FINAL.includes(job.status);
    const times = [["created", job.created_at], ["started", job.started_at], ["finished", job.finished_at]]
      .filter(([, t]) => t).map(([what, t]) => `${what} ${new Date(t).toLocaleString()}`);
    root.querySelector("[data-times]").textContent = [...times, `attempts ${job.attempts}`].join(" · ");
  };

  document.getElementById("cancel").addEventListener("click", async () => {
    try {
      showJob(await api(`/v1/jobs/${id}/cancel`, { method: "POST" }));
    } catch (error) {
      alert(error.message);
    }
  });

  const tick = async () => {
    try {
      const job = await api(`/v1/jobs/${id}`);
      showJob(job);
      await readEvents();
      if (job.kind === "sweep") await refreshLeaderboard(id);
      final = FINAL.includes(job.status);
    } finally {
      if (!final) setTimeout(tick, POLL_MS);
    }
  };
  readEvents().then(() => { if (!final) setTimeout(tick, POLL_MS); });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-upload]").forEach(setUpUpload);
  document.querySelectorAll("[data-job-form]").forEach(setUpJobForm);
  document.querySelectorAll("[data-live-jobs]").forEach(setUpJobList);
  const job = document.getElementById("job");
  if (job) setUpJob(job);
});
