// The ops dashboard: each panel of /ops/config.json (personastream_serving.ops_panels, the one
// place of its PromQL) asks Prometheus' HTTP API itself (Prometheus answers CORS from any
// origin by default) and is drawn with uPlot (static/vendor/uplot), or says why it has nothing
// to draw. Once answered, a panel's element carries data-state ("drawn", "empty" or "error")
// and data-series (the series drawn).
"use strict";

const HEIGHT = 220;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"];

async function prometheus(cfg, path, params) {
  const base = cfg.prometheus_url.replace(/\/$/, "");
  let response;
  try {
    response = await fetch(`${base}/api/v1/${path}?${new URLSearchParams(params)}`);
  } catch (error) {
    throw new Error(`Prometheus at ${cfg.prometheus_url} did not answer (${error.message})`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || body.status !== "success") {
    throw new Error(`Prometheus at ${cfg.prometheus_url} refused ${params.query}: ` +
                    `${body.error || response.status}`);
  }
  return body.data.result;
}

function number(value, unit = "") {
  return `${Number(value.toPrecision(3)).toLocaleString("en")}${unit}`;
}

function duration(seconds) {
  const units = [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]];
  const parts = [];
  let left = Math.round(seconds);
  for (const [size, name] of units) {
    if (left >= size || (size === 1 && !parts.length)) {
      parts.push(`${Math.floor(left / size)}${name}`);
      left %= size;
    }
  }
  return parts.slice(0, 2).join(" ");
}

const FORMATS = { number: (v) => number(v), duration, flag: (v) => (v > 0 ? "yes" : "no") };

// A legend's {label}s replaced by the series' labels.
function named(template, metric) {
  return template.replace(/\{(\w+)\}/g, (_, label) => metric[label] ?? "");
}

// The panel's lines over the range ending at `end`, on the grid of Prometheus' steps; a series
// without a single number in range (NaN: no samples in a rate's window) is not a line.
async function chartData(cfg, panel, end) {
  const times = [];
  for (let t = end - cfg.range_s; t <= end; t += cfg.step_s) times.push(t);
  const at = new Map(times.map((t, i) => [t, i]));
  const answers = await Promise.all(panel.series.map((s) => prometheus(cfg, "query_range", {
    query: s.promql, start: times[0], end, step: cfg.step_s })));
  const lines = [];
  answers.forEach((result, i) => result.forEach((r) => {
    const values = times.map(() => null);
    for (const [t, v] of r.values) {
      if (at.has(t) && Number.isFinite(Number(v))) values[at.get(t)] = Number(v);
    }
    if (values.some((v) => v !== null)) {
      lines.push({ label: named(panel.series[i].legend, r.metric), values });
    }
  }));
  lines.sort((a, b) => a.label.localeCompare(b.label));
  return { times, lines };
}

function drawChart(view, panel, { times, lines }) {
  const goal = panel.goal ? [{ label: `${panel.goal[0]} ${number(panel.goal[1], panel.unit)}`,
                               values: times.map(() => panel.goal[1]) }] : [];
  const data = [times, ...lines.map((l) => l.values), ...goal.map((g) => g.values)];
  const key = [...lines, ...goal].map((l) => l.label).join("\n");
  if (view.chart && view.key === key) {
    view.chart.setData(data);
    if (view.chart.cursor.idx == null) view.chart.setLegend({ idx: null });
    return;
  }
  view.chart?.destroy();
  view.key = key;
  view.chart = new uPlot({
    width: view.body.clientWidth, height: HEIGHT,
    series: [{ value: (u, t, s, idx) => (idx == null ? "latest" : stamp(new Date(t * 1000))) },
             ...lines.map((l, i) => ({ label: l.label, value: legendValue(panel.unit),
                                       width: 1.5, stroke: COLORS[i % COLORS.length] })),
             ...goal.map((g) => ({ label: g.label, value: legendValue(panel.unit), width: 1,
                                   stroke: "#b00", dash: [6, 4] }))],
    axes: [{}, { values: (u, splits) => splits.map((v) => number(v, panel.unit)),
                 size: (u, ticks) => 16 + 7 * Math.max(4, ...(ticks || []).map((t) => t.length)) }],
    scales: { y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 10] } },
  }, data, view.body);
}

const stamp = uPlot.fmtDate("{HH}:{mm}:{ss}");

// A legend shows the values under the cursor, else each series' latest value.
function legendValue(unit) {
  return (u, v, sidx, idx) => {
    const value = idx == null ? u.data[sidx].findLast((x) => x !== null) : v;
    return value == null ? "-" : number(value, unit);
  };
}

// A row per value of the panel's key labels that any column's query has, sorted.
async function tableRows(cfg, panel) {
  const answers = await Promise.all(panel.columns.map((c) => prometheus(cfg, "query", {
    query: c.promql })));
  const rows = new Map();
  answers.forEach((result, i) => result.forEach((r) => {
    const key = panel.key.map(([, label]) => r.metric[label] ?? "");
    const id = JSON.stringify(key);
    if (!rows.has(id)) rows.set(id, { key, cells: panel.columns.map((c) => c.missing) });
    const column = panel.columns[i];
    rows.get(id).cells[i] = column.label ? (r.metric[column.label] ?? "")
      : FORMATS[column.format](Number(r.value[1]));
  }));
  return [...rows.values()].sort((a, b) => a.key.join("\n").localeCompare(b.key.join("\n")));
}

function drawTable(view, panel, rows) {
  const table = document.createElement("table");
  const line = (cells, tag) => {
    const tr = table.insertRow();
    for (const text of cells) tr.appendChild(document.createElement(tag)).textContent = text;
  };
  line([...panel.key.map(([header]) => header), ...panel.columns.map((c) => c.header)], "th");
  rows.forEach((row) => line([...row.key, ...row.cells], "td"));
  view.body.replaceChildren(table);
}

function show(view, state, note, series) {
  if (state !== "drawn") {
    view.chart?.destroy();
    view.chart = view.key = null;
    view.body.replaceChildren();
  }
  Object.assign(view.element.dataset, { state, series });
  view.note.textContent = note;
}

async function refresh(cfg, view, end) {
  const panel = view.panel;
  try {
    if (panel.series.length) {
      const data = await chartData(cfg, panel, end);
      if (!data.lines.length) {
        return show(view, "empty", `${panel.empty} in the last ${cfg.range_s / 60} min`, 0);
      }
      drawChart(view, panel, data);
      show(view, "drawn", "", data.lines.length);
    } else {
      const rows = await tableRows(cfg, panel);
      if (!rows.length) return show(view, "empty", panel.empty, 0);
      drawTable(view, panel, rows);
      show(view, "drawn", "", rows.length);
    }
  } catch (error) {
    show(view, "error", error.message, 0);
  }
}

function panelView(panel) {
  const element = document.getElementById("panels").appendChild(
    document.createElement("section"));
  element.className = "panel";
  element.id = `panel-${panel.id}`;
  const title = element.appendChild(document.createElement("h2"));
  title.textContent = panel.title;
  title.title = [...panel.series, ...panel.columns].map((q) => q.promql).join("\n");
  const note = element.appendChild(document.createElement("p"));
  note.className = "note";
  note.textContent = "asking Prometheus…";
  return { panel, element, note, body: element.appendChild(document.createElement("div")),
           chart: null, key: null };
}

async function dashboard() {
  const cfg = await (await fetch("/ops/config.json")).json();
  const source = document.getElementById("source");
  const views = cfg.panels.map(panelView);
  window.addEventListener("resize", () => views.forEach(
    (v) => v.chart?.setSize({ width: v.body.clientWidth, height: HEIGHT })));
  for (;;) {
    const end = Math.floor(Date.now() / 1000 / cfg.step_s) * cfg.step_s;
    await Promise.all(views.map((v) => refresh(cfg, v, end)));
    source.textContent = `Prometheus ${cfg.prometheus_url} · last ${cfg.range_s / 60} min, ` +
      `step ${cfg.step_s} s · refreshed every ${cfg.refresh_s} s, last at ` +
      new Date(end * 1000).toLocaleTimeString("en-GB");
    await new Promise((resolve) => setTimeout(resolve, cfg.refresh_s * 1000));
  }
}
