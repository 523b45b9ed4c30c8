"use strict";
// Shared helpers of the console page: DOM building (text only, never HTML from data), the API, labels.

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, options) {
  const opts = Object.assign({headers: {}}, options || {});
  if (opts.json !== undefined) {
    opts.method = opts.method || "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
    delete opts.json;
  }
  const resp = await fetch(path, opts);
  if (resp.status === 401) {  // signed out: sign in, then back to this page
    window.location.replace("/login?next=" + encodeURIComponent(window.location.pathname));
    throw new ApiError(401, "login required");
  }
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    throw new ApiError(resp.status, body.detail || resp.statusText);
  }
  return resp.status === 204 ? null : resp.json();
}

const STATES = {
  pending_review: "待审核 Pending review", registered: "已立案 Registered", dispatched: "已派遣 Dispatched",
  accepted: "已签收 Accepted", feedback: "处理反馈 Feedback", verifying: "核查中 Verifying",
  closed: "已结案 Closed", rejected: "已注销 Rejected", merged: "已合并 Merged", rework: "返工 Rework",
  returned: "回退 Returned", extended: "延期 Extended", suspended: "挂账 Suspended",
};
const ACTIONS = {
  confirm: "立案 Confirm", reject: "注销 Reject", dispatch: "派遣 Dispatch", accept: "签收 Accept",
  return: "回退 Return", extend: "延期 Extend", feedback: "反馈 Feedback", verify: "核查 Verify",
  close: "结案 Close", rework: "返工 Rework", suspend: "挂账 Suspend", resume: "恢复 Resume",
  merge: "合并 Merge",
};
const CAMERA_STATES = {
  online: "在线 Online", offline: "离线 Offline", degraded: "降级 Degraded", connecting: "连接中 Connecting",
  stopped: "已停止 Stopped",
};
const LEVELS = {
  grid_worker: "网格员 Grid worker", grid_leader: "网格长 Grid leader", community_duty: "社区 Community",
  street_duty: "街道 Street", command_platform: "指挥平台 Command platform",
};
const VERIFY = {
  clear: "已消失，复核通过 Gone: verified", still_active: "仍存在，需返工 Still there: rework",
  timeout: "复核超时 Timed out", running: "复核中 Checking",
};
const SEVERITY = {minor: "一般 Minor", normal: "普通 Normal", major: "重要 Major", urgent: "紧急 Urgent"};
const REJECT_REASONS = [
  "误报：无此情况 False detection",
  "重复告警 Duplicate",
  "非治理事件 Not a governance matter",
  "摄像机画面问题 Camera view problem",
];

// "2026-11-22T13:44:58.095+08:00" → "11-22 13:44:58" (the site's own time, as the server wrote it)
function when(iso) {
  if (!iso) return "-";
  return iso.slice(5, 10) + " " + iso.slice(11, 19);
}

function ago(iso) {
  if (!iso) return "-";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + " 秒前 s ago";
  if (s < 3600) return Math.floor(s / 60) + " 分钟前 min ago";
  return Math.floor(s / 3600) + " 小时前 h ago";
}

// remaining time to a deadline, or how long it is overdue
function countdown(iso) {
  if (!iso) return "";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const abs = Math.abs(s);
  const text = abs >= 86400 ? Math.floor(abs / 86400) + "d " + Math.floor((abs % 86400) / 3600) + "h"
    : abs >= 3600 ? Math.floor(abs / 3600) + "h " + Math.floor((abs % 3600) / 60) + "m"
    : Math.floor(abs / 60) + "m";
  return s >= 0 ? "剩余 " + text + " left" : "超期 " + text + " over";
}

function placeName(place) {
  if (!place) return "-";
  const parts = [place.community_name, place.name || place.grid].filter(Boolean);
  return parts.length ? parts.join(" · ") : (place.grid || "-");
}

function personName(p) {
  if (!p) return "-";
  return p.name ? p.name + (p.title ? " (" + p.title + ")" : "") : p.id;
}

// a small modal form; resolves with the form's values, or null when cancelled
function ask(title, body) {
  const dialog = document.getElementById("dialog");
  const form = document.getElementById("dialog-form");
  document.getElementById("dialog-title").textContent = title;
  document.getElementById("dialog-body").replaceChildren(body);
  dialog.hidden = false;
  const first = body.querySelector("input, textarea, select");
  if (first) first.focus();
  return new Promise((resolve) => {
    const done = (value) => {
      dialog.hidden = true;
      form.onsubmit = null;
      document.getElementById("dialog-cancel").onclick = null;
      resolve(value);
    };
    form.onsubmit = (ev) => {
      ev.preventDefault();
      done(Object.fromEntries(new FormData(form).entries()));
    };
    document.getElementById("dialog-cancel").onclick = () => done(null);
  });
}

function toast(text, kind) {
  const el = h("div", {class: "toast " + (kind || "")}, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 5000);
}
