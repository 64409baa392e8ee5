// A temperature chart in plain SVG: the profile's allowed band, the readings as a line, the
// readings outside the band as red dots. Accessible: the SVG has a title and a description, and
// the caller shows a text summary and a table next to it.
const SVG = "http://www.w3.org/2000/svg";

function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * power) return m * power;
  return 10 * power;
}

/**
 * Draws into `container` (emptied first).
 * points: [{time: ISO, temperature_c: number|null}], band: {min_c, max_c}|null.
 * options: {title, description, formatTime(date) -> string, formatTemp(n) -> string}.
 * Returns the number of readings outside the band.
 */
export function drawTemperatureChart(container, points, band, options) {
  container.replaceChildren();
  const data = points
    .filter((p) => p.temperature_c !== null && p.temperature_c !== undefined)
    .map((p) => ({ t: new Date(p.time).getTime(), v: Number(p.temperature_c) }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
    .sort((a, b) => a.t - b.t);
  const width = Math.max(280, Math.round(container.clientWidth || 600));
  const height = Math.round(Math.min(300, Math.max(200, width * 0.45)));
  const pad = { left: 44, right: 12, top: 12, bottom: 28 };
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-labelledby": `${container.id}-title ${container.id}-desc`,
    class: "chart-svg",
  });
  el("title", { id: `${container.id}-title` }, svg).textContent = options.title;
  el("desc", { id: `${container.id}-desc` }, svg).textContent = options.description;
  container.appendChild(svg);
  if (data.length === 0) return 0;

  const values = data.map((p) => p.v);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (band && band.min_c !== null && band.max_c !== null) {
    lo = Math.min(lo, band.min_c);
    hi = Math.max(hi, band.max_c);
  }
  const margin = Math.max(0.5, (hi - lo) * 0.1);
  lo -= margin;
  hi += margin;
  const t0 = data[0].t;
  const t1 = Math.max(data[data.length - 1].t, t0 + 60_000);
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + ((hi - v) / (hi - lo)) * (height - pad.top - pad.bottom);

  // Grid and y axis.
  const step = niceStep(hi - lo, 5);
  const grid = el("g", { class: "chart-grid" }, svg);
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    el("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }, grid);
    const label = el("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, grid);
    label.textContent = options.formatTemp(v, 0);
  }
  // x axis: about one label per 110 px.
  const ticks = Math.max(2, Math.floor((width - pad.left - pad.right) / 110));
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    const label = el(
      "text",
      { x: x(t), y: height - 8, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" },
      grid,
    );
    label.textContent = options.formatTime(new Date(t));
  }

  let outside = 0;
  if (band && band.min_c !== null && band.max_c !== null) {
    el(
      "rect",
      {
        class: "chart-band",
        x: pad.left,
        width: width - pad.left - pad.right,
        y: y(band.max_c),
        height: Math.max(1, y(band.min_c) - y(band.max_c)),
      },
      svg,
    );
    for (const limit of [band.min_c, band.max_c]) {
      el("line", { class: "chart-limit", x1: pad.left, x2: width - pad.right, y1: y(limit), y2: y(limit) }, svg);
    }
  }
  const path = data.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
  el("path", { class: "chart-line", d: path }, svg);
  const dots = el("g", { class: "chart-out" }, svg);
  for (const p of data) {
    if (band && band.min_c !== null && band.max_c !== null && (p.v < band.min_c || p.v > band.max_c)) {
      outside++;
      el("circle", { cx: x(p.t), cy: y(p.v), r: 3 }, dots);
    }
  }
  const last = data[data.length - 1];
  el("circle", { class: "chart-last", cx: x(last.t), cy: y(last.v), r: 5 }, svg);
  return outside;
}

/** Summary numbers of the readings, for the text alternative. */
export function summarize(points, band) {
  const data = points.filter((p) => p.temperature_c !== null && p.temperature_c !== undefined);
  if (data.length === 0) return null;
  const values = data.map((p) => Number(p.temperature_c));
  const outside =
    band && band.min_c !== null && band.max_c !== null
      ? values.filter((v) => v < band.min_c || v > band.max_c).length
      : 0;
  return {
    count: data.length,
    start: data[0].time,
    end: data[data.length - 1].time,
    min: Math.min(...values),
    max: Math.max(...values),
    last: values[values.length - 1],
    outside,
  };
}
