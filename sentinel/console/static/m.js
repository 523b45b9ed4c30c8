"use strict";
// The grid worker's phone page (/m/): my open cases by deadline, one case with its snapshot, clip, map links,
// accept, a report with photos and a note, and the case log with the camera's re-check. Live over SSE, with a
// 15 s poll as a fallback. Uses common.js (h, api, labels). Routes: #/ (list) and #/case/<id>.

const m = {me: null, page: null, tab: "all", open: null};
const LEADER_ACTIONS = ["verify", "close", "rework"];

function deadlineOf(c) { return c.deadline_at || c.due_at; }

function roleBadges(c) {
  const out = [];
  if (c.overdue) out.push(h("span", {class: "badge late"}, "超期 Overdue"));
  if (c.escalated) out.push(h("span", {class: "badge esc"}, "已升级 ", LEVELS[c.escalation_role] || c.escalation_role));
  return out;
}

// ---------------------------------------------------------------- the list

function caseItem(c) {
  const d = deadlineOf(c);
  return h("li", {class: "mcase" + (c.overdue ? " overdue" : ""), dataset: {id: c.case_id, number: c.number},
      onclick: () => { location.hash = "#/case/" + c.case_id; }},
    c.snapshot_url ? h("img", {class: "thumb", src: c.snapshot_url, alt: "快照 snapshot", loading: "lazy"})
      : h("div", {class: "thumb none"}, "无快照"),
    h("div", {class: "info"},
      h("div", {class: "title"}, h("b", {}, "#" + c.number + " " + c.name), " ", h("small", {}, c.name_en || "")),
      h("div", {class: "place"}, c.place_path),
      h("div", {class: "state"}, h("span", {class: "badge st-" + c.state}, STATES[c.state] || c.state), ...roleBadges(c)),
      d ? h("div", {class: "deadline" + (c.overdue ? " late" : "")}, "时限 ", when(d), " · ", countdown(d)) : null,
    ));
}

function shown(items) {
  if (m.tab === "mine") return items.filter((c) => c.roles.includes("grid_worker"));
  if (m.tab === "escalated") return items.filter((c) => c.escalated);
  return items;
}

function renderList() {
  const items = shown(m.page ? m.page.items : []);
  document.getElementById("cases").replaceChildren(...items.map(caseItem));
  document.getElementById("empty").hidden = items.length > 0;
}

async function loadList() {
  m.page = await api("/api/my/cases");
  const leads = m.page.roles.some((r) => r !== "grid_worker");
  document.getElementById("tabs").hidden = !leads;  // a grid leader: the grid's cases and escalations
  const p = m.page.person;
  document.getElementById("me").textContent = (p ? (p.name || p.id) + (p.title ? " · " + p.title : "") : m.me.username)
    + " · " + (m.page.roles.map((r) => LEVELS[r] || r).join("、") || m.me.role);
  renderList();
}

// ---------------------------------------------------------------- one case

function photosOf(evidence) {
  return evidence.length ? h("div", {class: "evidence"}, ...evidence.map((e) => h("a", {href: e.url, target: "_blank"},
    h("img", {class: "evidence-thumb", src: e.url, alt: "现场照片 photo", loading: "lazy"})))) : null;
}

function caseLog(c) {
  const ev = c.evidence || [];
  return h("ol", {class: "log"}, ...c.transitions.slice().reverse().map((t) => h("li", {class: "entry a-" + t.action},
    h("div", {}, h("b", {}, ACTIONS[t.action] || t.action), " · ", STATES[t.to_state] || t.to_state),
    h("div", {class: "who"}, when(t.ts), " · ", t.actor),
    t.note ? h("div", {class: "note"}, t.note) : null,
    photosOf(ev.filter((e) => e.transition_id === t.id)))),
    ...ev.filter((e) => !e.transition_id).map((e) => h("li", {class: "entry a-photo"},
      h("div", {}, h("b", {}, "现场照片 Photo"), " · ", when(e.ts), " · ", e.actor),
      e.note ? h("div", {class: "note"}, e.note) : null, photosOf([e]))));
}

function recheck(c) {
  const v = c.verification;
  if (!v || !v.round) return null;
  return h("p", {class: "recheck r-" + (v.result || "running")}, "摄像机复核 Camera re-check: ", VERIFY[v.result] || VERIFY.running);
}

function reportForm(c) {
  const input = h("input", {id: "photos", name: "photos", type: "file", accept: "image/*", capture: "environment", multiple: true});
  const previews = h("div", {class: "previews"});
  input.addEventListener("change", () => {
    previews.replaceChildren(...[...input.files].slice(0, 6).map((f) => {
      const img = h("img", {class: "evidence-thumb", alt: f.name});
      const reader = new FileReader();
      reader.onload = () => { img.src = reader.result; };
      reader.readAsDataURL(f);
      return img;
    }));
  });
  const note = h("textarea", {id: "note", name: "note", rows: 3, maxlength: 1000, placeholder: "处置情况 What was done"});
  const submit = h("button", {id: "send-feedback", type: "submit"}, "提交反馈 Report done");
  const form = h("form", {id: "feedback-form", class: "report"},
    h("label", {for: "photos"}, "现场照片（最多 6 张）Photos (up to 6)"), input, previews,
    h("label", {for: "note"}, "说明 Note"), note, submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!input.files.length) { toast("请拍摄现场照片 Take a photo first", "bad"); return; }
    const body = new FormData();
    for (const f of input.files) body.append("photos", f, f.name);
    body.append("note", note.value.trim());
    body.append("feedback", "true");
    submit.disabled = true;
    try {
      const out = await api(`/api/cases/${c.case_id}/evidence`, {method: "POST", body});
      toast("已反馈 Reported ✓", "ok");
      renderCase(out);
      loadList();
    } catch (e) {
      toast("反馈失败 Report failed: " + e.message, "bad");
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

async function act(c, action, note) {
  try {
    const out = await api(`/api/cases/${c.case_id}/actions`, {json: {action, note: note || null}});
    toast(`${ACTIONS[action] || action} ✓`, "ok");
    renderCase(out);
    loadList();
  } catch (e) {
    toast(`${ACTIONS[action] || action}: ` + e.message, "bad");
  }
}

function renderCase(c) {
  m.open = c;
  const item = m.page && m.page.items.find((i) => i.case_id === c.case_id);
  const alert = c.alerts.slice().reverse().find((a) => a.snapshot_url);
  const clip = c.alerts.slice().reverse().find((a) => a.clip_url);
  const d = deadlineOf(c);
  const allowed = c.allowed_actions;
  const leads = item ? item.roles.some((r) => r !== "grid_worker") : false;
  const map = c.map;
  document.getElementById("case-body").replaceChildren(h("article", {class: "case", dataset: {id: c.case_id, state: c.state}},
    h("h2", {}, "#" + c.number + " " + c.name, " ", h("small", {}, c.name_en || "")),
    h("div", {class: "state"}, h("span", {id: "case-state", class: "badge st-" + c.state}, STATES[c.state] || c.state),
      ...roleBadges(Object.assign({escalated: c.escalation_level > 0}, c))),
    d && c.state !== "closed" ? h("p", {class: "deadline" + (c.overdue ? " late" : "")}, "时限 Deadline ", when(d), " · ", countdown(d)) : null,
    h("p", {class: "place"}, item ? item.place_path : placeName(c.place), c.zone ? " · " + c.zone : ""),
    alert ? h("img", {id: "snapshot", class: "snapshot", src: alert.snapshot_url, alt: "快照 snapshot"}) : null,
    h("div", {class: "links"},
      clip ? h("a", {class: "button plain", href: clip.clip_url, target: "_blank"}, "▶ 录像 Clip") : null,
      map ? h("a", {id: "map-app", class: "button plain", href: map.geo}, "地图 Map app") : null,
      map ? h("a", {id: "amap", class: "button plain", href: map.amap, target: "_blank", rel: "noopener"}, "高德地图 AMap") : null),
    recheck(c),
    allowed.includes("accept") ? h("button", {id: "accept", class: "primary", onclick: () => act(c, "accept")}, "签收 Accept") : null,
    allowed.includes("feedback") ? reportForm(c) : null,
    leads ? h("div", {class: "leader"}, ...LEADER_ACTIONS.filter((a) => allowed.includes(a)).map((a) =>
      h("button", {class: "plain", dataset: {action: a}, onclick: () => act(c, a, window.prompt(ACTIONS[a] + " — 备注 note") || "")}, ACTIONS[a]))) : null,
    h("h3", {}, "案件日志 Case log"),
    caseLog(c)));
}

async function openCase(id) {
  document.getElementById("not-found").hidden = true;
  document.getElementById("case-body").replaceChildren();
  try {
    renderCase(await api("/api/cases/" + encodeURIComponent(id)));
  } catch (e) {
    m.open = null;
    if (e.status === 404) document.getElementById("not-found").hidden = false;
    else toast(e.message, "bad");
  }
}

// ---------------------------------------------------------------- routing, live updates

function route() {
  const match = location.hash.match(/^#\/case\/([^/]+)$/);
  document.getElementById("list-view").hidden = !!match;
  document.getElementById("case-view").hidden = !match;
  document.getElementById("back").hidden = !match;
  document.getElementById("title").replaceChildren(...(match ? ["案件 ", h("small", {}, "Case")] : ["我的案件 ", h("small", {}, "My cases")]));
  if (match) openCase(decodeURIComponent(match[1]));
  else { m.open = null; renderList(); }
}

let soon = null;
function refreshSoon() {
  clearTimeout(soon);
  soon = setTimeout(() => {
    loadList().catch(() => {});
    if (m.open) api("/api/cases/" + m.open.case_id).then(renderCase).catch(() => {});
  }, 200);
}

function connectLive() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.onopen = () => { live.className = "live on"; };
  source.onerror = () => { live.className = "live off"; };
  source.addEventListener("case", refreshSoon);  // the server sends only the cases this user sees
  source.addEventListener("logout", () => window.location.replace("/login?next=/m/"));
}

async function main() {
  document.getElementById("back").addEventListener("click", () => { location.hash = "#/"; });
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/api/auth/logout", {method: "POST"});
    window.location.replace("/login?next=/m/");
  });
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => {
      m.tab = b.dataset.tab;
      for (const o of document.querySelectorAll("#tabs button")) o.classList.toggle("on", o === b);
      renderList();
    });
  }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", {scope: "/m/"}).catch(() => {});
  m.me = await api("/api/auth/me");
  await loadList();
  window.addEventListener("hashchange", route);
  route();
  connectLive();
  setInterval(refreshSoon, 15000);  // a poll too: a phone's connection drops and SSE may not say so
}

main();
