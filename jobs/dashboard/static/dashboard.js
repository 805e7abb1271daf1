// The GPU host's live page: polls /v1/dashboard (and the timeline) once a second.
"use strict";

const POLL_MS = 1000;
const HOUR = 3600;
const state = {
  key: localStorage.getItem("jobs-api-key") || "",
  zoom: HOUR,
  timelines: {},   // device -> {spans: Map(generation -> span), marks: [], now}
  busy: false,
  thumbs: new Map(),  // image url -> object URL (fetched with the key)
};

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function bytes(n) {
  if (n === null || n === undefined) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function secs(s) {
  if (s === null || s === undefined) return "?";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function ago(iso, now) {
  if (!iso) return "";
  const t = Date.parse(iso) / 1000;
  return Number.isNaN(t) ? iso : `${secs(Math.max(0, now - t))} ago`;
}

function clock(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour12: false });
}

// One colour per owner, the same on every poll.
function colour(owner) {
  let h = 0;
  for (const c of String(owner)) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h}, 60%, 48%)`;
}

async function getJSON(url) {
  const headers = state.key ? { Authorization: `Bearer ${state.key}` } : {};
  const answer = await fetch(url, { headers, cache: "no-store" });
  if (answer.status === 401) {
    document.getElementById("key-form").hidden = false;
    throw new Error("this service needs its API key (JOBS_API_KEY)");
  }
  if (!answer.ok) throw new Error(`${url}: HTTP ${answer.status}`);
  return answer.json();
}

// ---- lease now ------------------------------------------------------------------------------

function people(list, now) {
  if (!list.length) return "none";
  return list.map((w) => `${esc(w.owner ?? `pid ${w.pid}`)} <span class="muted">(${esc(w.priority ?? "?")},
    ${esc(ago(w.since, now))})</span>`).join(", ");
}

function memoryBar(m) {
  const residents = m.residents || [];
  const total = m.total_bytes;
  const segments = residents.map((r) => ({ name: r.owner, bytes: r.bytes || 0, cls: "" }));
  if (m.unaccounted_bytes) segments.push({ name: "unaccounted", bytes: m.unaccounted_bytes, cls: "unaccounted" });
  const scale = total || segments.reduce((a, s) => a + s.bytes, 0) || 1;
  const bar = segments.map((s) => `<span class="${s.cls}" title="${esc(s.name)}: ${bytes(s.bytes)}"
    style="width:${(100 * s.bytes / scale).toFixed(2)}%;${s.cls ? "" : `background:${colour(s.name)}`}"></span>`).join("");
  const legend = segments.map((s) => `<span><i class="swatch ${s.cls}" style="${s.cls ? "" : `background:${colour(s.name)}`}"></i>${esc(s.name)} ${bytes(s.bytes)}</span>`);
  if (total) legend.push(`<span><i class="swatch" style="background:var(--free)"></i>free ${bytes(m.free_bytes)} of ${bytes(total)}</span>`);
  const known = m.known ? `a newcomer may take ${bytes(m.available_bytes)}` : esc(m.reason);
  return `<div class="bar" data-testid="memory-bar">${bar}</div>
    <div class="bar-legend">${legend.join("") || '<span class="muted">no residents</span>'}</div>
    <div class="muted">${known}</div>`;
}

function renderLease(devices, now) {
  const root = document.getElementById("lease-devices");
  root.innerHTML = devices.map((d) => {
    const badge = d.forced ? '<span class="badge forced">FORCED</span>'
      : d.busy ? '<span class="badge busy">held</span>' : '<span class="badge">free</span>';
    const last = d.last_release
      ? `${esc(d.last_release.owner)} after ${secs(d.last_release.held_seconds)}, ${esc(ago(d.last_release.at, now))}`
      : "none";
    return `<div class="device" data-device="${d.device}">
      <h3>GPU ${d.device}${d.gpu_name ? ` &middot; ${esc(d.gpu_name)}` : ""} ${badge}</h3>
      <dl class="facts">
        <dt>holder</dt><dd data-testid="holder-${d.device}">${d.busy ? esc(d.holder) : "&mdash;"}</dd>
        <dt>since</dt><dd>${d.busy ? `${esc(ago(d.since, now))} <span class="muted">${esc(d.since)}</span>` : "&mdash;"}</dd>
        <dt>priority</dt><dd>${d.busy ? esc(d.priority) : "&mdash;"}</dd>
        <dt>waiters</dt><dd data-testid="waiters-${d.device}">${people(d.waiters, now)}</dd>
        <dt>frozen</dt><dd>${people(d.frozen, now)}</dd>
        <dt>forced</dt><dd>${d.forced ? people(d.forced_holders, now) : "no"}</dd>
        <dt>last release</dt><dd>${last}</dd>
        <dt>state</dt><dd class="muted">${esc(d.reason)}${d.stale ? " (stale record)" : ""}</dd>
      </dl>
      ${memoryBar(d.memory)}
    </div>`;
  }).join("");
}

// ---- timeline -------------------------------------------------------------------------------

async function pollTimeline(device) {
  const tl = state.timelines[device] || (state.timelines[device] = { spans: new Map(), marks: [], now: 0 });
  // Ask for what changed since the last answer (2 s of overlap: stamps have milliseconds).
  const since = tl.now ? `&since=${tl.now - 2}` : "";
  const answer = await getJSON(`/v1/dashboard/timeline?device=${device}${since}`);
  for (const span of answer.spans) tl.spans.set(span.generation, span);
  const seen = new Set(tl.marks.map((m) => `${m.at}|${m.event}|${m.owner}`));
  for (const mark of answer.marks) if (!seen.has(`${mark.at}|${mark.event}|${mark.owner}`)) tl.marks.push(mark);
  tl.now = answer.now;
  const start = answer.now - HOUR;
  for (const [g, span] of tl.spans) if (span.end !== null && span.end < start) tl.spans.delete(g);
  tl.marks = tl.marks.filter((m) => m.at >= start);
}

function renderTimeline() {
  const root = document.getElementById("timeline-devices");
  const parts = [];
  for (const [device, tl] of Object.entries(state.timelines)) {
    const width = Math.max(280, root.clientWidth || 600);
    const labelW = 90;
    const start = tl.now - state.zoom;
    const x = (t) => labelW + ((Math.max(t, start) - start) / state.zoom) * (width - labelW - 4);
    const spans = [...tl.spans.values()].filter((s) => (s.end ?? tl.now) >= start);
    const owners = [...new Set(spans.map((s) => s.owner))].sort();
    const rowH = 18;
    const height = (owners.length + 1) * rowH + 14;
    const svg = [`<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img"
      aria-label="lease timeline of GPU ${device}">`];
    owners.forEach((owner, i) => {
      svg.push(`<text x="2" y="${i * rowH + 13}">${esc(owner.slice(0, 14))}</text>`);
    });
    // A forced run ran beside the holder without the lease: hatched in its owner's colour
    // and outlined, never a solid bar (the GPU was not its alone).
    const hatch = (owner) => `forced-${device}-${owners.indexOf(owner)}`;
    svg.push("<defs>");
    for (const owner of new Set(spans.filter((s) => s.forced).map((s) => s.owner))) {
      svg.push(`<pattern id="${hatch(owner)}" width="6" height="6" patternUnits="userSpaceOnUse"
        patternTransform="rotate(45)"><rect width="6" height="6" style="fill:var(--panel)"/>
        <line x1="0" y1="0" x2="0" y2="6" style="stroke:${colour(owner)};stroke-width:3"/></pattern>`);
    }
    svg.push("</defs>");
    for (const s of spans) {
      const row = owners.indexOf(s.owner);
      const x0 = x(s.start);
      const w = Math.max(2, x(s.end ?? tl.now) - x0);
      const open = s.end === null;
      const ended = s.forced && s.ended_by === "died" ? ", died (its end is not in the log)"
        : open ? (s.forced ? " (running)" : " (holding)") : `, ${s.ended_by}`;
      const title = `${s.owner} (${s.priority}${s.forced ? ", forced: ran without the lease" : ""})`
        + ` ${clock(s.start)} for ${secs((s.end ?? tl.now) - s.start)}${ended}`
        + (s.wait_seconds ? `; waited ${secs(s.wait_seconds)}` : "");
      const style = s.forced
        ? `fill:url(#${hatch(s.owner)});stroke:${colour(s.owner)};stroke-width:1.5`
        : `fill:${colour(s.owner)}`;
      svg.push(`<rect class="span${s.forced ? " forced" : ""}" data-owner="${esc(s.owner)}"
        data-open="${open}" data-forced="${Boolean(s.forced)}"
        x="${x0.toFixed(1)}" y="${row * rowH + 2}" width="${w.toFixed(1)}" height="${rowH - 4}"
        style="${style}"><title>${esc(title)}</title></rect>`);
      if (s.handoff) {
        svg.push(`<text x="${(x0 - 4).toFixed(1)}" y="${owners.length * rowH + 12}"
          style="fill:var(--ink)">&#9650;<title>handoff to ${esc(s.owner)}: waited ${secs(s.wait_seconds)}</title></text>`);
      }
    }
    const markColour = { yield: "#3b6fd8", freeze: "#7b3fc4", thaw: "#7b3fc4", reclaim: "#000" };
    for (const m of tl.marks) {
      if (m.at < start) continue;
      const row = Math.max(0, owners.indexOf(m.owner));
      svg.push(`<line class="mark" data-event="${esc(m.event)}" x1="${x(m.at).toFixed(1)}" x2="${x(m.at).toFixed(1)}"
        y1="${row * rowH}" y2="${row * rowH + rowH}" style="stroke:${markColour[m.event] || "#000"};stroke-width:2">
        <title>${esc(clock(m.at))}: ${esc(m.detail)}</title></line>`);
    }
    const axisY = height - 2;
    const ticks = width < 520 ? 2 : 4;  // clock labels need about 60 px each
    for (let i = 0; i <= ticks; i += 1) {
      const t = start + (state.zoom * i) / ticks;
      const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
      svg.push(`<text x="${x(t).toFixed(1)}" y="${axisY}" text-anchor="${anchor}">${clock(t)}</text>`);
    }
    svg.push("</svg>");
    const empty = spans.length ? "" : '<p class="muted">nobody held the lease in this window</p>';
    parts.push(`<div class="timeline" data-device="${device}"><h3>GPU ${device}</h3>${empty}${svg.join("")}</div>`);
  }
  root.innerHTML = parts.join("");
}

// ---- backend, runner, jobs ------------------------------------------------------------------

function renderBackend(b) {
  const root = document.getElementById("backend-body");
  root.classList.remove("muted");
  if (!b.reachable) {
    root.innerHTML = `<p class="bad" data-testid="backend-state">unreachable</p><p class="muted">${esc(b.reason)}</p>`;
    return;
  }
  const covered = b.latency_window_seconds === null ? "since the backend started"
    : `last ${secs(b.latency_window_seconds)}`;
  const latency = b.latency_requests
    ? `p50 ${secs(b.latency_p50_seconds)} &middot; p95 ${secs(b.latency_p95_seconds)} <span class="muted">(${Math.round(b.latency_requests)} requests, ${covered})</span>`
    : `<span class="muted">no generations (${covered})</span>`;
  // The backend's jobs route, where it has one: the running request's step and its queue.
  let step = '<span class="muted">not reported (no /v1/images/jobs route)</span>';
  let queued = "";
  if (b.jobs) {
    step = b.jobs.running.map((r) => {
      const waiting = !r.step && r.lease_wait_seconds !== null
        ? ` <span class="warn">waiting for the GPU lease (${secs(r.lease_wait_seconds)})</span>` : "";
      const eta = r.eta_seconds !== null && r.eta_seconds !== undefined ? `, ETA ${secs(r.eta_seconds)}` : "";
      return `<span data-testid="backend-running">${esc(r.id)}</span>: step ${esc(r.step)} of ${esc(r.steps)}${eta}${waiting}`;
    }).join("<br>") || '<span class="muted">none</span>';
    queued = b.jobs.queued.length
      ? `<dt>queued</dt><dd>${b.jobs.queued.map((q) => `${esc(q.queue_position)}. ${esc(q.id)}`).join("<br>")}</dd>` : "";
  }
  root.innerHTML = `<dl class="facts">
    <dt>state</dt><dd data-testid="backend-state" class="ok">${b.model_ready ? "ready" : "loading the model"}</dd>
    <dt>queue depth</dt><dd data-testid="backend-queue">${b.queue_depth ?? "?"}</dd>
    <dt>running</dt><dd>${step}</dd>${queued}
    <dt>latency</dt><dd>${latency}</dd>
    <dt>images</dt><dd>${b.images_generated ?? "?"} made, ${b.failures ?? 0} failed, ${b.queue_rejections ?? 0} refused (queue full)</dd>
    <dt>from</dt><dd class="muted">${esc(b.url)}/metrics</dd></dl>`;
}

async function thumb(url) {
  if (!state.key) return url;
  if (!state.thumbs.has(url)) {
    const answer = await fetch(url, { headers: { Authorization: `Bearer ${state.key}` } });
    state.thumbs.set(url, answer.ok ? URL.createObjectURL(await answer.blob()) : "");
  }
  return state.thumbs.get(url);
}

async function renderRunner(r, now) {
  const root = document.getElementById("runner-body");
  const images = document.getElementById("runner-images");
  root.classList.remove("muted");
  const p = r.progress;
  if (!p) {
    root.innerHTML = `<p class="muted" data-testid="runner-state">${esc(r.reason)}</p>`;
    images.innerHTML = "";
    return;
  }
  const pct = p.total ? (100 * p.done) / p.total : 100;
  const stateText = r.finished_at ? `finished ${esc(ago(r.finished_at, now))}`
    : `in progress, last update ${esc(ago(p.updated_at, now))}`;
  root.innerHTML = `<dl class="facts">
    <dt>run</dt><dd data-testid="runner-run">${esc(p.run_id)}</dd>
    <dt>state</dt><dd data-testid="runner-state">${stateText}</dd>
    <dt>model</dt><dd>${esc(p.model ?? "—")} <span class="muted">${esc(p.prompt_set ?? "")}</span></dd>
    <dt>images</dt><dd data-testid="runner-done">${p.done} of ${p.total} (${pct.toFixed(1)}%)${p.failed ? `, ${p.failed} failed` : ""}</dd>
    <dt>speed</dt><dd>${(p.images_per_second || 0).toFixed(2)} images/s</dd>
    <dt>ETA</dt><dd>${r.finished_at ? "done" : p.eta_seconds === null ? "?" : secs(p.eta_seconds)}</dd>
    </dl><div class="progress"><span style="width:${pct.toFixed(1)}%"></span></div>
    ${r.images_error ? `<p class="warn">${esc(r.images_error)}</p>` : ""}`;
  // Object URLs of thumbnails no longer shown are freed (a long-open page sees many runs).
  const shown = new Set(r.images.map((i) => i.url));
  for (const [url, blob] of state.thumbs) {
    if (!shown.has(url)) { if (blob) URL.revokeObjectURL(blob); state.thumbs.delete(url); }
  }
  const figures = await Promise.all(r.images.map(async (i) => `<figure><img alt="${esc(i.prompt)}"
    title="${esc(i.prompt)} (${esc(i.model)})" src="${esc(await thumb(i.url))}"><figcaption>${esc(i.prompt)}</figcaption></figure>`));
  const html = figures.join("");
  if (images.dataset.html !== html) { images.innerHTML = html; images.dataset.html = html; }
}

function jobRow(j, now) {
  const when = j.finished_at || j.started_at || j.created_at;
  return `<tr data-job="${esc(j.id)}"><td>${esc(j.id)}</td><td>${esc(j.name ?? "")}</td>
    <td>${esc(j.status)}${j.exit_code !== null && j.exit_code !== undefined ? ` (${j.exit_code})` : ""}</td>
    <td class="wide-only">${esc(j.image)}</td><td>${esc(ago(when, now))}</td>
    <td class="muted wide-only">${esc(j.reason ?? "")}</td></tr>`;
}

function table(rows, now, empty) {
  if (!rows.length) return `<p class="muted">${empty}</p>`;
  return `<div class="table-wrap"><table><tr><th>id</th><th>name</th><th>status</th>
    <th class="wide-only">image</th><th>when</th><th class="wide-only">reason</th></tr>${rows.map((j) => jobRow(j, now)).join("")}</table></div>`;
}

function renderJobs(jobs, now) {
  const root = document.getElementById("jobs-body");
  root.classList.remove("muted");
  const running = jobs.running.map((j) => `<div class="running-job" data-job="${esc(j.id)}">
      <h3>${esc(j.name ?? j.id)} <span class="badge ${j.status === "paused" ? "frozen" : "busy"}">${esc(j.status)}</span>
      <span class="muted">${esc(j.id)} &middot; ${esc(j.image)} &middot; started ${esc(ago(j.started_at, now))}
      &middot; <span data-testid="disk-${esc(j.id)}">disk ${esc(bytes(j.storage_used))} of ${esc(bytes(j.storage_limit))}</span></span></h3>
      <pre class="log" data-testid="log-${esc(j.id)}">${esc(j.log_tail.join("\n")) || "(no output yet)"}</pre></div>`).join("");
  root.innerHTML = `${jobs.engine ? `<p class="warn">${esc(jobs.engine)}</p>` : ""}
    <h3>Running</h3>${running || '<p class="muted">none</p>'}
    <h3>Queued (${jobs.queued_total})</h3>${table(jobs.queued, now, "none")}
    <h3>Recently finished</h3>${table(jobs.finished, now, "none yet")}`;
  // The newest log lines in view.
  root.querySelectorAll("pre.log").forEach((pre) => { pre.scrollTop = pre.scrollHeight; });
}

// ---- the loop -------------------------------------------------------------------------------

async function poll() {
  if (state.busy) return;
  state.busy = true;
  const updated = document.getElementById("updated");
  try {
    const now = await getJSON("/v1/dashboard");
    renderLease(now.lease, now.now);
    await Promise.all(now.lease.map((d) => pollTimeline(d.device)));
    renderTimeline();
    renderBackend(now.backend);
    renderJobs(now.jobs, now.now);
    await renderRunner(now.runner, now.now);
    updated.textContent = `updated ${clock(now.now)}`;
    updated.className = "muted";
  } catch (error) {
    updated.textContent = `not updated: ${error.message}`;
    updated.className = "bad";
  } finally {
    state.busy = false;
  }
}

document.querySelectorAll("[data-zoom]").forEach((button) => {
  button.addEventListener("click", () => {
    state.zoom = Number(button.dataset.zoom);
    document.querySelectorAll("[data-zoom]").forEach((b) => b.classList.toggle("on", b === button));
    renderTimeline();
  });
});
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = document.getElementById("key-input").value.trim();
  localStorage.setItem("jobs-api-key", state.key);
  document.getElementById("key-form").hidden = true;
  poll();
});
window.addEventListener("resize", renderTimeline);
poll();
setInterval(poll, POLL_MS);
