"use strict";
// The operator page: live alert queue (SSE), confirm / reject, case board, camera health, grid map, KPIs.

const state = {me: null, alerts: new Map(), cases: [], grid: null, gridFilter: null, cameraFilter: null, kpis: null};
const may = (role) => state.me && (state.me.role === role || state.me.role === "admin");

// ---------------------------------------------------------------- alert queue

function alertCard(a) {
  const actions = may("operator") ? h("div", {class: "actions"},
    h("button", {class: "confirm", onclick: () => confirmAlert(a)}, "确认立案 Confirm"),
    h("button", {class: "reject plain", onclick: () => rejectAlert(a)}, "驳回 Reject"),
  ) : null;
  const thumb = a.snapshot_url
    ? h("img", {class: "thumb", src: a.snapshot_url, alt: "snapshot", loading: "lazy",
        onclick: () => openSnapshot(a)})
    : h("div", {class: "thumb none"}, "无快照 no snapshot");
  return h("li", {class: "alert sev-" + a.severity, dataset: {id: a.alert_id}},
    thumb,
    h("div", {class: "info"},
      h("div", {class: "type"}, h("b", {}, a.name), " ", h("span", {class: "en"}, a.name_en),
        h("span", {class: "badge sev"}, SEVERITY[a.severity] || a.severity)),
      h("div", {class: "camera"}, "摄像机 Camera: ", a.camera_name, a.zone ? " · " + a.zone : ""),
      h("div", {class: "place"}, "地点 Place: ", placeName(a.place)),
      h("div", {class: "time"}, "时间 Time: ", when(a.detected_at), " · ",
        a.count ? `数量 count ${a.count} · ` : "", `置信度 conf. ${a.confidence.toFixed(2)}`,
        a.clip_url ? [" · ", h("a", {class: "clip", href: a.clip_url, target: "_blank", rel: "noopener"}, "▶ 录像 Clip")] : null),
      actions,
    ),
  );
}

function renderQueue() {
  const list = [...state.alerts.values()].sort((x, y) => y.detected_at.localeCompare(x.detected_at));
  document.getElementById("queue").replaceChildren(...list.map(alertCard));
  document.getElementById("queue-count").textContent = String(list.length);
  document.getElementById("queue-empty").hidden = list.length > 0;
  renderKpiStrip();
}

async function loadQueue() {
  const page = await api("/api/alerts?state=new&limit=100");
  state.alerts = new Map(page.items.map((a) => [a.alert_id, a]));
  renderQueue();
}

let queueTimer = null;
function refreshQueueSoon() {  // a case confirmed or rejected settles the alerts filed under it too
  clearTimeout(queueTimer);
  queueTimer = setTimeout(loadQueue, 300);
}

async function addAlert(alertId) {
  const a = await api("/api/alerts/" + encodeURIComponent(alertId));
  if (a.review_state === "new") {
    state.alerts.set(a.alert_id, a);
    renderQueue();
  }
  refreshCases();  // the daemon files each alert as a case waiting for review (or joins one)
}

function openSnapshot(a) {
  const img = document.getElementById("viewer-img");
  img.src = a.snapshot_url;
  document.getElementById("viewer-caption").textContent =
    `${a.name} ${a.name_en} · ${a.camera_name} · ${placeName(a.place)} · ${when(a.detected_at)}`;
  document.getElementById("viewer").hidden = false;
}

async function confirmAlert(a) {
  try {
    const out = await api(`/api/alerts/${a.alert_id}/confirm`, {json: {}});
    state.alerts.delete(a.alert_id);
    renderQueue();
    toast(`已立案 Confirmed: 案件 case #${out.case_number ?? "-"}`, "ok");
    refreshCases();
  } catch (e) {
    toast("立案失败 Confirm failed: " + e.message, "bad");
    if (e.status === 409) loadQueue();
  }
}

async function rejectAlert(a) {
  const choices = REJECT_REASONS.map((r, i) => h("label", {class: "choice"},
    h("input", {type: "radio", name: "preset", value: r, checked: i === 0}), r));
  const body = h("div", {}, h("p", {}, `${a.name} ${a.name_en} · ${a.camera_name}`), ...choices,
    h("label", {for: "reject-reason"}, "说明 Note (optional)"),
    h("textarea", {id: "reject-reason", name: "note", rows: 2, maxlength: 400}));
  const answer = await ask("驳回告警 Reject alert — 原因 reason", body);
  if (!answer) return;
  const reason = [answer.preset, answer.note && answer.note.trim()].filter(Boolean).join("; ");
  try {
    await api(`/api/alerts/${a.alert_id}/reject`, {json: {reason}});
    state.alerts.delete(a.alert_id);
    renderQueue();
    toast("已驳回 Rejected (记为误报 kept as a false positive)", "ok");
    refreshCases();
  } catch (e) {
    toast("驳回失败 Reject failed: " + e.message, "bad");
  }
}

// ---------------------------------------------------------------- case board

const COLUMNS = [
  ["待审核 · 立案 Review", ["pending_review", "registered", "returned"]],
  ["处置中 Handling", ["dispatched", "accepted", "extended", "rework", "suspended"]],
  ["反馈 · 核查 Verifying", ["feedback", "verifying"]],
  ["已结案 Closed (recent)", ["closed"]],
];

// every card says when it is due: the countdown while the clock runs, why there is none when it does not,
// and for a closed case whether it was closed by its disposal deadline (the on-time KPI's measure)
function deadlineLine(c) {
  const deadline = c.deadline_at || c.due_at;
  if (c.state === "closed") {
    const late = c.due_at && c.closed_at && Date.parse(c.closed_at) > Date.parse(c.due_at);
    return h("div", {class: "deadline"}, "结案 Closed: ", when(c.closed_at),
      c.due_at ? h("span", {class: "badge " + (late ? "late" : "ontime")}, late ? "超期结案 Closed late" : "按期 On time") : null);
  }
  if (c.state === "suspended") {
    return h("div", {class: "deadline"}, "时限 Deadline: ", h("span", {class: "left"}, "挂账，停止计时 suspended, clock stopped"));
  }
  if (!deadline || c.state === "returned") {  // a returned case's clock starts anew at its next dispatch
    return h("div", {class: "deadline"}, "时限 Deadline: ", h("span", {class: "left"}, "派遣后计时 starts at dispatch"));
  }
  return h("div", {class: "deadline"}, "时限 Deadline: ", when(deadline), " ", h("span", {class: "left"}, countdown(deadline)));
}

function caseCard(c) {
  return h("li", {class: "case" + (c.overdue ? " overdue" : ""), dataset: {number: c.number, id: c.case_id},
      onclick: () => showCase(c.case_id)},
    h("div", {class: "title"}, h("b", {}, "#" + c.number), " ", c.name, " ", h("span", {class: "en"}, c.name_en || ""),
      c.overdue ? h("span", {class: "badge late"}, "超期 Overdue") : null),
    h("div", {class: "state"}, h("span", {class: "badge st-" + c.state}, STATES[c.state] || c.state),
      c.escalation_level ? h("span", {class: "badge esc"}, LEVELS[c.escalation_role] || c.escalation_role) : null,
      c.command_platform ? h("span", {class: "badge esc"}, "指挥平台 Command") : null),
    h("div", {class: "grid"}, "网格 Grid: ", placeName(c.place)),
    h("div", {class: "who"}, "网格员 Worker: ", personName(c.worker),
      c.assignee && c.worker && c.assignee.id !== c.worker.id ? h("span", {}, " → ", personName(c.assignee)) : null),
    deadlineLine(c),
  );
}

function renderBoard() {
  const cases = state.cases.filter((c) => (!state.gridFilter || (c.place && c.place.grid === state.gridFilter)) &&
    (!state.cameraFilter || c.camera_id === state.cameraFilter));
  const board = document.getElementById("board");
  board.replaceChildren(...COLUMNS.map(([title, states]) => {
    const items = cases.filter((c) => states.includes(c.state)).slice(0, states.includes("closed") ? 10 : 200);
    return h("div", {class: "column", dataset: {states: states.join(" ")}},
      h("h3", {}, title, h("span", {class: "count"}, String(items.length))),
      h("ol", {}, ...items.map(caseCard)));
  }));
  const chip = document.getElementById("board-filter");
  chip.hidden = !state.gridFilter && !state.cameraFilter;
  chip.replaceChildren();
  if (state.gridFilter) {
    const cell = state.grid && state.grid.features.find((f) => f.properties.code === state.gridFilter);
    chip.append("网格 " + (cell ? cell.properties.name : state.gridFilter) + " ✕");
    chip.onclick = () => selectGrid(null);
  } else if (state.cameraFilter) {
    const cam = state.grid && (state.grid.cameras || []).find((c) => c.camera_id === state.cameraFilter);
    chip.append("摄像机 Camera " + (cam ? cam.name : state.cameraFilter) + " ✕");
    chip.onclick = () => selectCamera(null);
  }
}

async function showCase(caseId) {
  const c = await api("/api/cases/" + encodeURIComponent(caseId));
  // evidence photos from the phone: with the feedback entry they came with, the others on their own
  const photos = (ids) => ids.length ? h("div", {class: "evidence"}, ...ids.map((e) => h("a", {href: e.url, target: "_blank", rel: "noopener"},
    h("img", {class: "evidence-thumb", src: e.url, alt: "现场照片 evidence photo", loading: "lazy", dataset: {id: e.id}})))) : null;
  const evidence = c.evidence || [];
  const log = h("table", {class: "log"}, h("tr", {}, ...["时间 When", "动作 Action", "从 From", "到 To", "操作人 Actor", "备注 Note"].map((t) => h("th", {}, t))),
    ...c.transitions.map((t) => h("tr", {}, h("td", {}, when(t.ts)), h("td", {}, ACTIONS[t.action] || t.action),
      h("td", {}, t.from_state || "-"), h("td", {}, t.to_state), h("td", {}, t.actor),
      h("td", {}, t.note || "", photos(evidence.filter((e) => e.transition_id === t.id))))));
  const loose = evidence.filter((e) => !e.transition_id || !c.transitions.some((t) => t.id === e.transition_id));
  const recheck = c.verification && c.verification.round ? h("p", {class: "recheck"}, "摄像机复核 Camera re-check: ",
    VERIFY[c.verification.result] || VERIFY.running) : null;
  const options = may("operator") ? c.allowed_actions.filter((a) => a !== "merge") : [];
  const select = options.length ? h("select", {name: "action"}, h("option", {value: ""}, "— 不操作 no action —"),
    ...options.map((a) => h("option", {value: a}, ACTIONS[a] || a))) : null;
  const body = h("div", {class: "case-detail"},
    h("p", {}, `${STATES[c.state] || c.state} · ${placeName(c.place)} · 网格员 ${personName(c.worker)} · 处理人 ${personName(c.assignee)}`),
    h("div", {class: "thumbs"}, ...c.alerts.filter((a) => a.snapshot_url).slice(0, 4)
      .map((a) => h("img", {class: "thumb", src: a.snapshot_url, alt: "snapshot"}))),
    recheck,
    log,
    loose.length ? h("div", {class: "loose-evidence"}, "现场照片 Photos: ", ...loose.map((e) => h("span", {}, e.note ? e.note + " " : "", photos([e])))) : null,
    select ? h("label", {}, "动作 Action ", select) : null,
    select ? h("input", {name: "note", placeholder: "备注 note", maxlength: 500}) : null);
  const answer = await ask(`案件 Case #${c.number} ${c.name} ${c.name_en || ""}`, body);
  if (!answer || !answer.action) return;
  try {
    await api(`/api/cases/${c.case_id}/actions`, {json: {action: answer.action, note: answer.note || null}});
    toast(`#${c.number}: ${ACTIONS[answer.action] || answer.action} ✓`, "ok");
    refreshCases();
  } catch (e) {
    toast(`#${c.number}: ` + e.message, "bad");
  }
}

// ---------------------------------------------------------------- cameras

function renderCameras(cams) {
  const body = document.querySelector("#cameras tbody");
  body.replaceChildren(...cams.map((c) => h("tr", {class: "cam " + c.state, dataset: {id: c.camera_id}},
    h("td", {}, c.name || c.camera_id),
    h("td", {}, h("span", {class: "badge cam-" + c.state}, CAMERA_STATES[c.state] || c.state)),
    h("td", {}, c.fps ? c.fps.toFixed(1) : "-"),
    h("td", {}, ago(c.last_frame_at)),
    h("td", {class: "decode", title: "decode path · share of packets decoded · reader CPU"}, decodeCost(c)),
    h("td", {class: "error"}, c.error || ""),
    h("td", {class: "node"}, c.node || ""),
    h("td", {}, may("technician") ? h("button", {class: "plain small", onclick: () => cameraView(c)}, "画面 View") : null),
  )));
}

// which decode path the camera is on and what it costs: "keyframes · 2 % · 11 ms/s"
function decodeCost(c) {
  if (!c.decode_mode) return "-";
  const parts = [c.decode_mode];
  if (c.decoded_share != null) parts.push(`${(c.decoded_share * 100).toFixed(c.decoded_share < 0.1 ? 1 : 0)} %`);
  if (c.reader_cpu) parts.push(`${(c.reader_cpu * 1000).toFixed(0)} ms/s`);
  return parts.join(" · ");
}

function cameraView(c) {
  openSnapshot({snapshot_url: `/api/cameras/${encodeURIComponent(c.camera_id)}/snapshot?t=${Date.now()}`,
    name: "实时画面", name_en: "live view", camera_name: c.name, place: null, detected_at: new Date().toISOString()});
}

// ---------------------------------------------------------------- refresh and live updates

function renderKpiStrip() {
  if (state.kpis) {
    const open = state.cases.filter((c) => !["closed", "rejected", "merged"].includes(c.state)).length;
    renderKpis(state.kpis, open, state.alerts.size);
    renderWorkerKpis(state.kpis);
  }
}

// the board shows one grid's cases or one camera's (a click on the map), not both at once
function selectGrid(code) {
  state.gridFilter = code;
  state.cameraFilter = null;
  renderBoard();
  if (state.grid) renderMap(state.grid, state.gridFilter, selectGrid, state.cameraFilter, selectCamera);
}

function selectCamera(id) {
  state.cameraFilter = id;
  state.gridFilter = null;
  renderBoard();
  if (state.grid) renderMap(state.grid, state.gridFilter, selectGrid, state.cameraFilter, selectCamera);
}

let refreshTimer = null;
function refreshCases() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    const [open, closed, grid, kpis] = await Promise.all([
      api("/api/cases?open=true&limit=500"), api("/api/cases?state=closed&limit=10"),
      api("/api/grid"), api("/api/kpis"),
    ]);
    state.cases = open.items.concat(closed.items);
    state.grid = grid;
    state.kpis = kpis;
    renderBoard();
    renderMap(grid, state.gridFilter, selectGrid, state.cameraFilter, selectCamera);
    renderKpiStrip();
  }, 200);
}

async function refreshCameras() {
  const [cams, nodes] = await Promise.all([api("/api/cameras"), api("/api/nodes")]);
  renderCameras(cams);
  renderNodes(nodes);
  if (state.grid && (state.grid.cameras || []).length) {  // the markers follow the camera board
    const now = new Map(cams.map((c) => [c.camera_id, c.state]));
    for (const c of state.grid.cameras) c.state = now.get(c.camera_id) || c.state;
    renderMap(state.grid, state.gridFilter, selectGrid, state.cameraFilter, selectCamera);
  }
}

// a cluster's nodes (PostgreSQL): alive, leader, how many cameras each runs; hidden on a single node
function renderNodes(nodes) {
  const strip = document.getElementById("nodes");
  strip.hidden = nodes.length === 0;
  strip.replaceChildren(...nodes.map((n) => h("span", {class: "node-chip " + (n.alive ? "alive" : "down"),
    title: `${n.host} · renewed ${n.heartbeat_age_s} s ago`},
    `${n.id} ${n.alive ? "●" : "○"} ${n.cameras.length}${n.leader ? " · 主 leader" : ""}`)));
}

function connectLive() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.onopen = () => {
    live.className = "live on";
    if (connectLive.opened) {  // back after a break: catch up on what the stream may have missed
      loadQueue(); refreshCases(); refreshCameras();
    }
    connectLive.opened = true;
  };
  source.onerror = () => {
    live.className = "live off";
    if (source.readyState === EventSource.CLOSED) {  // refused (signed out?): check, then retry
      api("/api/auth/me").then(() => setTimeout(connectLive, 3000)).catch(() => {});
    }
  };
  source.addEventListener("alert", (ev) => addAlert(JSON.parse(ev.data).alert_id));
  source.addEventListener("alert_review", (ev) => {
    const r = JSON.parse(ev.data);
    if (r.review_state !== "new" && state.alerts.delete(r.alert_id)) renderQueue();
  });
  source.addEventListener("case", () => { refreshCases(); refreshQueueSoon(); });
  source.addEventListener("camera", () => refreshCameras());
  source.addEventListener("logout", () => window.location.replace("/login"));
}

async function main() {
  document.getElementById("viewer").addEventListener("click", () => { document.getElementById("viewer").hidden = true; });
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/api/auth/logout", {method: "POST"});
    window.location.replace("/login");
  });
  state.me = await api("/api/auth/me");
  api("/api/site").then((s) => { document.getElementById("site").textContent = s.name; });
  document.getElementById("me").textContent = `${state.me.display_name || state.me.username} · ${state.me.role}`;
  connectLive();
  await Promise.all([loadQueue(), refreshCameras()]);
  refreshCases();
  setInterval(refreshCameras, 15000);
  setInterval(renderBoard, 60000);  // countdowns
}

main();
