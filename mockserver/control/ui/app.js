// The wan26-mock dashboard: polls the /_mock JSON routes once a second while visible.
// Every value from the emulator goes into the page as text, never as HTML.
"use strict";

const TOKEN_KEY = "wan26-mock-token";
const POLL_MS = 1000;
const LOG_LIMIT = 200;
const $ = (id) => document.getElementById(id);

let selected = null; // id of the request shown in the detail panel
let keys = []; // accounts from the last /_mock/state
let waitingForToken = false;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === "boolean") node[name] = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["X-Mock-Token"] = token;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    ...options,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: "no-store",
  });
  if (response.status === 401) throw new Unauthorized();
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// ---- token -----------------------------------------------------------------

function askForToken(refused) {
  if (waitingForToken) return;
  waitingForToken = true;
  $("token-error").hidden = !refused;
  $("token-dialog").showModal();
  $("token-input").focus();
}

$("token-form").addEventListener("submit", () => {
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
  $("token-input").value = "";
  waitingForToken = false;
  poll();
});

// ---- formatting ------------------------------------------------------------

// Amounts arrive as JSON numbers with the headers' exact digits (whole micro-dollars,
// trailing zeros trimmed): shown as they are, never rounded nor added up here.
const usd = (value) => `$${String(value ?? 0)}`;
const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "–");
const statusClass = (status) => (status ? `s${Math.floor(status / 100)}` : "sp");

function statusBadge(status) {
  return el("span", { class: `badge ${statusClass(status)}` }, status ? String(status) : "…");
}

// ---- requests ----------------------------------------------------------------

function journalQuery() {
  const query = new URLSearchParams({ limit: String(LOG_LIMIT) });
  const path = $("f-path").value.trim();
  if (path) query.set("path", path);
  if ($("f-charged").checked) query.set("charged", "true");
  return `/_mock/journal?${query}`;
}

function shown(entry) {
  const wanted = $("f-status").value;
  if (wanted === "pending" && entry.status !== null) return false;
  if (/^\d$/.test(wanted) && Math.floor((entry.status || 0) / 100) !== Number(wanted)) return false;
  const key = $("f-key").value;
  return !key || entry.key === key;
}

let lastLog = "";
let entriesById = new Map();

function renderLog(entries) {
  const visible = entries.filter(shown).reverse();
  entriesById = new Map(entries.map((entry) => [entry.id, entry]));
  const signature = JSON.stringify(visible.map((e) => [e.id, e.status, e.charged_usd, e.job]));
  $("log-empty").hidden = visible.length > 0;
  if (signature !== lastLog) {
    lastLog = signature;
    const focused = document.activeElement?.dataset?.entry;
    $("log").replaceChildren(...visible.map(logRow));
    if (focused) document.querySelector(`[data-entry="${focused}"]`)?.focus();
  }
  if (selected !== null && entriesById.has(selected)) renderDetail(entriesById.get(selected));
}

function logRow(entry) {
  const open = el("button", { type: "button", class: "linkish", title: "Show details" }, entry.path);
  open.dataset.entry = String(entry.id);
  open.addEventListener("click", () => showDetail(entry.id));
  const row = el(
    "tr",
    { class: entry.id === selected ? "selected" : "" },
    el("td", {}, clock(entry.at)),
    el("td", {}, entry.method),
    el("td", { class: "path" }, open),
    el("td", {}, statusBadge(entry.status)),
    el(
      "td",
      {},
      [entry.outcome, entry.cassette && `cassette ${entry.cassette}`].filter(Boolean).join(" · "),
      entry.job_id ? jobLink(entry.job_id, "job") : null,
    ),
    el("td", { class: "num" }, entry.charged_usd ? usd(entry.charged_usd) : ""),
    el("td", { class: "num", "data-unit": " ms" }, entry.duration_ms === null ? "…" : entry.duration_ms.toFixed(0)),
    el("td", { class: "key" }, entry.key || "–"),
  );
  row.dataset.status = String(entry.status);
  return row;
}

function showDetail(id) {
  selected = id;
  lastLog = "";
  renderDetail(entriesById.get(id));
  $("detail").hidden = false;
  $("detail").focus();
}

let detailSignature = "";

function renderDetail(entry) {
  const signature = JSON.stringify(entry);
  if (signature === detailSignature) return;
  detailSignature = signature;
  $("detail-title").textContent = `${entry.method} ${entry.path}${entry.query ? `?${entry.query}` : ""} → ${
    entry.status ?? "no answer yet"
  }`;
  $("detail-error").hidden = !entry.error;
  $("detail-error").textContent = entry.error || "";
  $("detail-headers").replaceChildren(...headerRows(entry.headers));
  $("detail-response-headers").replaceChildren(...headerRows(entry.response_headers || {}));
  $("detail-body").textContent = prettyBody(entry.body);
  const job = entry.job;
  const parts = [];
  if (job) {
    parts.push(el("p", { class: "job-line" }, "v2 job ", jobLink(job.id), ": ", el("strong", {}, job.state)));
    parts.push(el("p", { class: "charge" }, chargeText(entry, job)));
    if (job.error) parts.push(el("p", { class: "error" }, job.error));
    if (job.video) parts.push(player(job.video));
  } else if (entry.job_id) {
    const answered = entry.job_state ? `: answered ${entry.job_state}` : "";
    parts.push(el("p", { class: "job-line" }, "v2 job ", jobLink(entry.job_id), answered));
  } else if (entry.video) {
    parts.push(player(entry.video));
  }
  $("detail-job").replaceChildren(...parts);
}

function headerRows(headers) {
  return Object.entries(headers).map(([name, value]) =>
    el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, value)),
  );
}

// A v2 submit is charged when its job completes, not when it is answered.
function chargeText(entry, job) {
  if (entry.charged_usd) return `Charged ${usd(entry.charged_usd)} when the job completed`;
  if (job.state === "FAILED") return "Not charged: the job failed";
  if (entry.price_usd) return `${usd(entry.price_usd)} to be charged when the job completes`;
  return "Not charged";
}

// A button that brings the job's card in the v2 jobs panel into view.
function jobLink(id, text = id) {
  const props = { type: "button", class: "linkish job-link", title: `Show v2 job ${id}`, "aria-label": `v2 job ${id}` };
  const link = el("button", props, text);
  link.dataset.jobLink = id;
  link.addEventListener("click", () => showJob(id));
  return link;
}

function showJob(id) {
  for (const node of jobNodes.values()) node.classList.toggle("selected", node.dataset.job === id);
  const node = jobNodes.get(id);
  if (!node) {
    $("steer-msg").textContent = `Job ${id} is no longer kept (jobs expire, and a reset drops them)`;
    $("steer-msg").className = "confirm error";
    return;
  }
  node.scrollIntoView({ block: "nearest" });
  node.focus();
}

function prettyBody(body) {
  if (!body) return "(empty)";
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function player(src) {
  return el("video", { src, controls: true, preload: "metadata", playsInline: true, class: "player" });
}

$("detail-close").addEventListener("click", () => {
  const id = selected;
  selected = null;
  detailSignature = "";
  $("detail").hidden = true;
  lastLog = "";
  document.querySelector(`[data-entry="${id}"]`)?.focus();
});

for (const id of ["f-status", "f-key", "f-charged"]) $(id).addEventListener("change", poll);
$("f-path").addEventListener("input", poll);
$("filters").addEventListener("submit", (event) => event.preventDefault());

// ---- jobs ------------------------------------------------------------------------

const jobNodes = new Map();

function renderJobs(jobs) {
  $("jobs-empty").hidden = jobs.length > 0;
  const list = $("job-list");
  const alive = new Set(jobs.map((job) => job.id));
  for (const [id, node] of jobNodes) {
    if (!alive.has(id)) {
      node.remove();
      jobNodes.delete(id);
    }
  }
  let previous = null;
  for (const job of jobs) {
    let node = jobNodes.get(job.id);
    if (!node) {
      node = jobNode(job);
      jobNodes.set(job.id, node);
    }
    updateJob(node, job);
    const expected = previous ? previous.nextSibling : list.firstChild;
    if (node !== expected) list.insertBefore(node, expected);
    previous = node;
  }
}

function jobNode(job) {
  const node = el(
    "li",
    { class: "job" },
    el(
      "div",
      { class: "job-head" },
      el("span", { class: "state" }),
      el("code", { class: "job-id" }, job.id),
      el("span", { class: "muted" }, `${job.duration} s ${job.resolution} · ${usd(job.cost_usd)} · ${job.key}`),
    ),
    job.journal_id === null ? null : el("p", { class: "job-from" }, "Submitted by ", entryLink(job.journal_id, `request #${job.journal_id}`)),
    el("progress", { max: 1, value: 0, "aria-label": `Progress of job ${job.id}` }),
    el("p", { class: "job-times muted" }),
    el("p", { class: "error", hidden: true }),
  );
  node.dataset.job = job.id;
  node.tabIndex = -1;
  return node;
}

function updateJob(node, job) {
  node.dataset.state = job.state;
  const state = node.querySelector(".state");
  state.textContent = job.state;
  state.className = `state badge st-${job.state.toLowerCase()}`;
  const bar = node.querySelector("progress");
  if (job.progress === null) bar.removeAttribute("value");
  else bar.value = job.progress;
  const times = [`submitted ${clock(job.submitted_at)}`];
  if (job.queue_position) times.push(`queue position ${job.queue_position}`);
  if (job.started_at) times.push(`started ${clock(job.started_at)}`);
  if (job.finished_at) times.push(`finished ${clock(job.finished_at)}`);
  times.push(`run ${job.run_s.toFixed(1)} s (emulated ${job.emulated_s.toFixed(0)} s)`);
  node.querySelector(".job-times").textContent = times.join(" · ");
  const error = node.querySelector(".error");
  error.hidden = !job.error;
  error.textContent = job.error || "";
  if (job.video && !node.querySelector("video")) node.append(player(job.video));
}

// ---- accounts ---------------------------------------------------------------------

const planOf = (account) =>
  account.requests_per_minute === null ? "unlimited" : String(account.requests_per_minute);

function renderAccounts(accounts) {
  keys = accounts;
  const body = $("acct");
  const rows = new Map([...body.children].map((row) => [row.dataset.id, row]));
  const wanted = new Set(accounts.map((account) => account.id));
  for (const [id, row] of rows) if (!wanted.has(id)) row.remove();
  for (const account of accounts) {
    const row = rows.get(account.id) || body.appendChild(accountRow(account));
    setField(row, "credits", account.credits);
    setField(row, "free_credits", account.free_credits);
    setField(row, "plan", planOf(account));
    row.querySelector(".held").textContent = String(account.held);
    row.querySelector(".window").textContent = String(account.requests_this_window);
  }
  const keySelect = $("f-key");
  const current = keySelect.value;
  keySelect.replaceChildren(
    el("option", { value: "" }, "any"),
    ...accounts.map((account) => el("option", { value: account.key }, account.key)),
  );
  keySelect.value = current;
}

// A field the user is editing keeps what they typed until they save.
function setField(row, name, value) {
  const input = row.querySelector(`[name="${name}"]`);
  if (input.dataset.dirty !== "1") input.value = String(value);
}

function accountRow(account) {
  const label = (what) => `${what} of ${account.key}`;
  const field = (name, props) => {
    const input = el("input", { name, "aria-label": label(name.replace("_", " ")), ...props });
    input.addEventListener("input", () => (input.dataset.dirty = "1"));
    return input;
  };
  const row = el(
    "tr",
    {},
    el("th", { scope: "row", class: "key" }, account.key),
    el("td", { "data-label": "Credits $" }, field("credits", { type: "number", step: "any", min: "0", size: 8 })),
    el("td", { "data-label": "Free $" }, field("free_credits", { type: "number", step: "any", min: "0", size: 6 })),
    el("td", { class: "num held", "data-label": "Held $" }),
    el("td", { "data-label": "Plan (per min)" }, field("plan", { type: "text", list: "plans", size: 8 })),
    el("td", { class: "num window", "data-label": "This min" }),
    el(
      "td",
      { class: "actions" },
      el("button", { type: "button", class: "save", "aria-label": `Save ${account.key}` }, "Save"),
      el("button", { type: "button", class: "remove", "aria-label": `Remove ${account.key}` }, "Remove"),
    ),
  );
  row.dataset.id = account.id;
  row.querySelector(".save").addEventListener("click", () => saveAccount(row, account));
  row.querySelector(".remove").addEventListener("click", () => removeAccount(row, account));
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName === "INPUT") saveAccount(row, account);
  });
  return row;
}

const planValue = (text) => (/^\d+$/.test(text.trim()) ? Number(text) : text.trim());

async function saveAccount(row, account) {
  const value = (name) => row.querySelector(`[name="${name}"]`).value;
  const changes = {
    credits: Number(value("credits")),
    free_credits: Number(value("free_credits")),
    plan: planValue(value("plan")),
  };
  await steer(async () => {
    const saved = await api(`/_mock/keys/${encodeURIComponent(account.id)}`, { method: "PUT", body: changes });
    for (const input of row.querySelectorAll("input")) delete input.dataset.dirty;
    return `${saved.key}: credits ${usd(saved.credits)}, free ${usd(saved.free_credits)}, plan ${planOf(saved)}`;
  });
}

// What cannot be undone is asked about first.
const confirmed = (question) => window.confirm(question);

async function removeAccount(row, account) {
  if (!confirmed(`Remove the key ${account.key}? Its credits and settings go with it.`)) return;
  await steer(async () => {
    await api(`/_mock/keys/${encodeURIComponent(account.id)}`, { method: "DELETE" });
    row.remove();
    return `Removed ${account.key}`;
  });
}

$("add-key").addEventListener("submit", async (event) => {
  event.preventDefault();
  await steer(async () => {
    const body = { credits: Number($("new-credits").value), plan: planValue($("new-plan").value) };
    const saved = await api(`/_mock/keys/${encodeURIComponent($("new-key").value)}`, { method: "PUT", body });
    $("new-key").value = "";
    return `Added ${saved.key} with ${usd(saved.credits)}, plan ${planOf(saved)}`;
  });
});

// ---- steering -----------------------------------------------------------------------

async function steer(action) {
  const message = $("steer-msg");
  try {
    message.textContent = await action();
    message.className = "confirm";
  } catch (error) {
    if (error instanceof Unauthorized) askForToken(true);
    message.textContent = `Not done: ${error.message || "the token was refused"}`;
    message.className = "confirm error";
  }
  poll();
}

function renderScenarios(view) {
  $("queued").replaceChildren(
    ...view.queued.map((s) =>
      el("li", {}, `${s.outcome} x ${s.times}${s.path ? ` on ${s.path}…` : ""}${s.key ? ` for ${s.key}` : ""}`),
    ),
    ...Object.entries(view.chaos.rates).map(([name, rate]) =>
      el("li", {}, `chaos: ${name} at ${rate} (seed ${view.chaos.seed ?? "none"})`),
    ),
  );
}

function renderOutcomes(known) {
  const select = $("force-outcome");
  if (select.options.length) return;
  select.append(
    ...Object.entries(known)
      .filter(([name]) => name !== "success")
      .map(([name, text]) => el("option", { value: name }, `${name} (${text})`)),
  );
}

$("force").addEventListener("submit", async (event) => {
  event.preventDefault();
  await steer(async () => {
    const spec = { outcome: $("force-outcome").value, times: Number($("force-times").value) || 1 };
    const path = $("force-path").value.trim();
    if (path) spec.path = path;
    renderScenarios(await api("/_mock/scenarios", { method: "POST", body: spec }));
    return `The next ${spec.times} call(s)${path ? ` to ${path}…` : ""} will get ${spec.outcome}`;
  });
});

function parseRates(text) {
  const rates = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [name, rate] = part.split(/[=:]/).map((p) => p.trim());
    if (!name || rate === undefined || Number.isNaN(Number(rate))) throw new Error(`cannot read "${part}"`);
    rates[name] = Number(rate);
  }
  return rates;
}

$("chaos").addEventListener("submit", async (event) => {
  event.preventDefault();
  await steer(async () => {
    const seedText = $("chaos-seed").value;
    const body = { rates: parseRates($("chaos-rates").value), seed: seedText === "" ? null : Number(seedText) };
    renderScenarios(await api("/_mock/chaos", { method: "PUT", body }));
    const list = Object.entries(body.rates).map(([name, rate]) => `${name} ${rate}`).join(", ");
    return list ? `Chaos on (seed ${body.seed}): ${list}` : "Chaos set with no rates: off";
  });
});

$("chaos-off").addEventListener("click", () =>
  steer(async () => {
    renderScenarios(await api("/_mock/chaos", { method: "DELETE" }));
    return "Chaos off";
  }),
);

$("clear-scenarios").addEventListener("click", () =>
  confirmed("Clear every queued scenario and the chaos settings?") &&
  steer(async () => {
    renderScenarios(await api("/_mock/scenarios", { method: "DELETE" }));
    return "Queued scenarios and chaos cleared";
  }),
);

$("reset").addEventListener("click", () =>
  confirmed("Reset the emulator? Accounts go back to the configuration; jobs, scenarios, the journal and cached renders are dropped.") &&
  steer(async () => {
    await api("/_mock/reset", { method: "POST" });
    selected = null;
    $("detail").hidden = true;
    for (const input of document.querySelectorAll("#acct input")) delete input.dataset.dirty;
    return "Emulator reset: configured accounts; no jobs, scenarios, journal or cached renders";
  }),
);

// ---- figures ------------------------------------------------------------------------

function renderStats(stats) {
  $("fig-calls").textContent = String(stats.calls);
  $("fig-spent").textContent = usd(stats.spent_usd);
  $("fig-scale").textContent = `× ${stats.time_scale}`;
  const cache = stats.render_cache;
  $("fig-video").textContent = `${cache.hits + cache.misses} (${cache.hits} reused)`;
  $("fig-cassette-box").hidden = !stats.cassette;
  if (stats.cassette) {
    const tally = stats.cassette.calls;
    $("fig-cassette").textContent =
      `${stats.cassette.mode}: ${tally.hit} hit, ${tally.recorded} recorded, ${tally.miss} miss`;
  }
  $("fig-jobs").textContent = Object.entries(stats.jobs)
    .filter(([, n]) => n)
    .map(([state, n]) => `${n} ${state.toLowerCase()}`)
    .join(", ") || "none";
  drawChart(stats.per_minute);
}

const SVG = "http://www.w3.org/2000/svg";
const SERIES = [["2xx", "s2"], ["4xx", "s4"], ["5xx", "s5"], ["pending", "sp"]];

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

function drawChart(minutes) {
  const width = 300;
  const height = 90;
  const base = height - 14;
  const top = Math.max(1, ...minutes.map((m) => SERIES.reduce((sum, [name]) => sum + (m[name] || 0), 0)));
  const step = width / minutes.length;
  const bars = [];
  minutes.forEach((minute, i) => {
    let y = base;
    const total = SERIES.reduce((sum, [name]) => sum + (minute[name] || 0), 0);
    for (const [name, css] of SERIES) {
      const count = minute[name] || 0;
      if (!count) continue;
      const h = (count / top) * (base - 12);
      y -= h;
      bars.push(svg("rect", { x: i * step + 2, y, width: step - 4, height: h, class: css },
        svg("title", {}, `${clock(minute.minute)}: ${count} ${name}`)));
    }
    const last = i === minutes.length - 1;
    if (i % 5 === 4 || last) {
      const label = { x: last ? width : i * step + step / 2, y: height - 2, "text-anchor": last ? "end" : "middle" };
      bars.push(svg("text", label, clock(minute.minute).slice(0, 5)));
    }
    if (total) bars.push(svg("text", { x: i * step + step / 2, y: y - 2, "text-anchor": "middle" }, String(total)));
  });
  const total = minutes.reduce((sum, m) => sum + SERIES.reduce((s, [name]) => s + (m[name] || 0), 0), 0);
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${total} calls in the last 15 minutes` },
    svg("line", { x1: 0, y1: base, x2: width, y2: base, class: "axis" }),
    ...bars,
  );
  $("chart").replaceChildren(chart);
}

// ---- integration report -------------------------------------------------------------
// Its own poll, slower than the page's: the report is computed from the whole journal.

const REPORT_POLL_MS = 3000;
const REPORT_ENTRY_LINKS = 12;
let reportTimer = null;
let lastReport = "";

async function pollReport() {
  clearTimeout(reportTimer);
  if (!waitingForToken && !document.hidden) {
    try {
      renderReport(await api("/_mock/report"));
    } catch {
      // the page's own poll says what is wrong
    }
  }
  reportTimer = setTimeout(pollReport, REPORT_POLL_MS);
}

function renderReport(report) {
  const signature = JSON.stringify(report);
  if (signature === lastReport) return;
  lastReport = signature;
  $("report-summary").textContent =
    `${report.calls} calls · ${usd(report.spent_usd)} spent · ${usd(report.usd_at_risk)} at risk (list price)`;
  $("report-findings").replaceChildren(...report.findings.map(findingItem));
  $("report-none").hidden = report.findings.length > 0 || report.calls === 0;
  $("report-never").textContent = report.outcomes.never.join(", ") || "none: every outcome was met";
}

function findingItem(finding) {
  const links = finding.entries.slice(0, REPORT_ENTRY_LINKS).map((id) => entryLink(id));
  const more = finding.entries.length - links.length;
  return el(
    "li",
    { class: "finding" },
    el("p", {}, el("strong", {}, finding.kind), ` x ${finding.count} · ${usd(finding.usd_at_risk)} at risk`),
    el("p", { class: "advice" }, finding.advice),
    ...finding.notes.map((note) => el("p", { class: "muted" }, note)),
    el("p", { class: "entries" }, "Requests: ", ...links, more > 0 ? ` and ${more} more` : null),
  );
}

function entryLink(id, text = `#${id}`) {
  const link = el("button", { type: "button", class: "linkish", title: `Show request ${id}` }, text);
  link.dataset.entryLink = String(id);
  link.addEventListener("click", () => showEntry(id));
  return link;
}

async function showEntry(id) {
  if (!entriesById.has(id)) {
    const found = await api(`/_mock/journal?id=${id}`);
    if (!found.entries.length) return;
    entriesById.set(id, found.entries[0]);
  }
  showDetail(id);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) pollReport();
});

// ---- polling ------------------------------------------------------------------------

let timer = null;
let polling = false;

async function poll() {
  clearTimeout(timer);
  if (waitingForToken || document.hidden || polling) return;
  polling = true;
  try {
    const [journal, jobs, state, stats, scenarios] = await Promise.all([
      api(journalQuery()),
      api("/_mock/jobs"),
      api("/_mock/state"),
      api("/_mock/stats"),
      api("/_mock/scenarios"),
    ]);
    renderOutcomes(scenarios.known);
    renderScenarios(scenarios);
    renderAccounts(state.keys);
    renderLog(journal.entries);
    renderJobs(jobs.jobs);
    renderStats(stats);
    $("live").textContent = `live · updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
    $("live").className = "live ok";
  } catch (error) {
    if (error instanceof Unauthorized) {
      askForToken(sessionStorage.getItem(TOKEN_KEY) !== null);
      $("live").textContent = "waiting for the control token";
    } else {
      $("live").textContent = `cannot reach the emulator (${error.message}); retrying`;
    }
    $("live").className = "live bad";
  } finally {
    polling = false;
    if (!waitingForToken) timer = setTimeout(poll, POLL_MS);
  }
}

// A hidden tab polls nothing, so the page costs the emulator nothing when nobody looks.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) poll();
});

poll();
pollReport();
