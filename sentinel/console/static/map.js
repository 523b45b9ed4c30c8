"use strict";
// The grid as an SVG map (no tiles): grid cells filled by their open cases, communities outlined; and KPIs.

const SVG = "http://www.w3.org/2000/svg";
const FILLS = ["#e3f1e0", "#fde9a9", "#f9c270", "#f08c4a", "#d9483b"]; // 0, 1, 2, 3-4, 5+ open cases

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function fillFor(open) {
  return FILLS[open <= 0 ? 0 : open === 1 ? 1 : open === 2 ? 2 : open <= 4 ? 3 : 4];
}

function rings(geometry) {
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

// Equirectangular, x scaled by cos(latitude): true shapes at grid scale.
function projector(bbox, width) {
  const [minx, miny, maxx, maxy] = bbox;
  const k = Math.cos(((miny + maxy) / 2) * Math.PI / 180);
  const scale = width / Math.max((maxx - minx) * k, 1e-9);
  return {
    height: (maxy - miny) * scale,
    xy: ([lon, lat]) => [((lon - minx) * k * scale).toFixed(1), ((maxy - lat) * scale).toFixed(1)],
  };
}

function pathOf(geometry, project) {
  return rings(geometry).map((ring) => "M" + ring.map((p) => project.xy(p).join(",")).join("L") + "Z").join(" ");
}

function labelPoint(geometry, project) {
  const outer = rings(geometry)[0] || [];
  const xs = outer.map((p) => Number(project.xy(p)[0]));
  const ys = outer.map((p) => Number(project.xy(p)[1]));
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

// A camera as a marker: a circle coloured by its state, a ring when cases are open at it, a tooltip.
function cameraMarker(c, project, selected, onCamera) {
  const [x, y] = project.xy([c.lon, c.lat]);
  const up = c.state === "online";
  return svg("g", {
    class: "camera " + (up ? "up" : "down") + (c.open_cases ? " busy" : "") + (selected === c.camera_id ? " selected" : ""),
    "data-camera": c.camera_id, "data-state": c.state, "data-open": c.open_cases,
    onclick: () => onCamera(selected === c.camera_id ? null : c.camera_id),
  }, svg("title", {}, `摄像机 ${c.name} (${c.camera_id})\n状态 state: ${CAMERA_STATES[c.state] || c.state}` +
      `\n未结案件 open cases: ${c.open_cases}`),
    svg("circle", {cx: x, cy: y, r: c.open_cases ? 24 : 18, class: "halo"}),
    svg("circle", {cx: x, cy: y, r: 13, class: "dot"}),
    ...(c.open_cases ? [svg("text", {x: Number(x) + 28, y: Number(y) + 9, class: "cam-count"}, String(c.open_cases))] : []));
}

function renderMap(grid, selected, onSelect, camera, onCamera) {
  const box = document.getElementById("map");
  if (!grid.bbox || !grid.features.length) {
    box.replaceChildren(h("p", {class: "empty"}, "未配置网格 No grid data (grid.cells in the config)"));
    return;
  }
  const width = 600;
  const project = projector(grid.bbox, width);
  const pad = 8;
  const root = svg("svg", {
    viewBox: `${-pad} ${-pad} ${width + 2 * pad} ${project.height + 2 * pad}`, role: "img",
    "aria-label": "grid map",
  });
  const byLevel = (level) => grid.features.filter((f) => f.properties.level === level);
  for (const f of byLevel("grid")) {
    const p = f.properties;
    const cell = svg("path", {
      d: pathOf(f.geometry, project), fill: fillFor(p.open_cases),
      class: "cell" + (p.overdue_cases ? " late" : "") + (selected === p.code ? " selected" : ""),
      "data-code": p.code, "data-open": p.open_cases, onclick: () => onSelect(selected === p.code ? null : p.code),
    }, svg("title", {}, `${p.name} ${p.code}\n未结案件 open cases: ${p.open_cases}` +
      (p.overdue_cases ? `\n超期 overdue: ${p.overdue_cases}` : "")));
    root.append(cell);
  }
  for (const level of ["community", "street"]) {
    for (const f of byLevel(level)) {
      root.append(svg("path", {d: pathOf(f.geometry, project), class: "outline " + level}));
    }
  }
  for (const f of byLevel("grid")) {
    const [x, y] = labelPoint(f.geometry, project);
    const p = f.properties;
    root.append(svg("text", {x, y, class: "label"}, p.name.replace(/^.*社区/, "")));
    if (p.open_cases) root.append(svg("text", {x, y: y + 32, class: "label count"}, String(p.open_cases)));
  }
  for (const c of grid.cameras || []) root.append(cameraMarker(c, project, camera, onCamera || (() => {})));
  box.replaceChildren(root);
  const legend = document.getElementById("legend");
  legend.replaceChildren(
    ...["0", "1", "2", "3-4", "5+"].map((t, i) => h("span", {},
      swatch(FILLS[i]), t)),
    h("span", {}, h("i", {class: "late-swatch"}), "有超期 overdue"),
    ...((grid.cameras || []).length ? [
      h("span", {}, h("i", {class: "cam-swatch up"}), "摄像机在线 camera online"),
      h("span", {}, h("i", {class: "cam-swatch down"}), "离线 offline"),
    ] : []),
  );
}

function swatch(colour) {
  // set through the CSSOM: the page's Content-Security-Policy refuses style="" attributes
  const el = h("i", {});
  el.style.background = colour;
  return el;
}

function pct(x) {
  return x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%";
}

function renderKpis(k, openCases, queueLength) {
  const o = k.overall;
  const item = (label, value, cls) => h("div", {class: "kpi " + (cls || "")}, h("b", {}, value), h("span", {}, label));
  document.getElementById("kpis").replaceChildren(
    item("待处理告警 Alerts to review", String(queueLength), queueLength ? "warn" : ""),
    item("未结案件 Open cases", String(openCases)),
    item("按期结案率 On-time closure", pct(o.on_time_rate)),
    item("结案率 Closure rate", pct(o.closure_rate)),
    item("返工 Rework", String(o.rework_count)),
    item("已结案 Closed", String(o.closed)),
  );
}

// KPIs per grid worker: a case counts for whoever held it at the grid-worker level, escalated or not
const WORKER_COLUMNS = [
  ["网格员 Worker", (r) => r.name ? `${r.name} (${r.key})` : r.key === "unassigned" ? "未经网格员 No grid worker" : r.key],
  ["案件 Cases", (r) => r.cases], ["未结 Open", (r) => r.open], ["已结案 Closed", (r) => r.closed],
  ["结案率 Closure", (r) => pct(r.closure_rate)], ["应结案 Due", (r) => r.due],
  ["按期结案 On time", (r) => r.closed_on_time], ["按期结案率 On-time %", (r) => pct(r.on_time_rate)],
  ["返工 Rework", (r) => r.rework_count], ["升级 Escalated", (r) => r.escalated],
];

function renderWorkerKpis(k) {
  let table = document.getElementById("worker-kpis");
  if (!table) {  // the panel is built here so the page's HTML needs no change
    table = h("table", {id: "worker-kpis", class: "kpi-table"});
    document.querySelector("main").append(h("section", {class: "panel workers-panel"},
      h("h2", {}, "网格员考核 KPIs per grid worker",
        h("span", {class: "hint"}, "升级的案件仍计入原网格员 escalated cases stay with their worker")),
      table));
  }
  const rows = (k.by_worker || []).filter((r) => r.cases > 0);
  table.replaceChildren(
    h("tr", {}, ...WORKER_COLUMNS.map(([label]) => h("th", {}, label))),
    ...rows.map((r) => h("tr", {dataset: {worker: r.key}}, ...WORKER_COLUMNS.map(([, cell]) => h("td", {}, String(cell(r)))))),
  );
  if (!rows.length) table.append(h("tr", {}, h("td", {class: "empty", colspan: WORKER_COLUMNS.length}, "暂无案件 No cases yet")));
}
