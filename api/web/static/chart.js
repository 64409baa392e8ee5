// A temperature chart in plain SVG: the profile's allowed band, the stored excursion spans
// shaded, one line per parcel through its readings (or through each bucket's lowest and highest
// reading, at their own times, when the API thinned them), the readings outside the band as red
// dots. Accessible: the SVG has a title and a description, each shaded span a title, and the
// caller shows a text summary and a table next to it.
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

function hasBand(band) {
  return Boolean(band) && band.min_c !== null && band.max_c !== null;
}

/**
 * Draws into `container` (emptied first).
 * points: [{time: ISO, temperature_c: number|null, parcel_id?: string}], band: {min_c, max_c}|null.
 * options: {title, description, formatTime(date) -> string, formatTemp(n) -> string,
 *           spans: [{started_at: ISO, ended_at: ISO|null}] (the stored excursions, shaded; an
 *           open one up to the latest reading), spanTitle(span) -> string}.
 * Returns the number of points outside the band.
 */
export function drawTemperatureChart(container, points, band, options) {
  container.replaceChildren();
  const data = points
    .filter((p) => p.temperature_c !== null && p.temperature_c !== undefined)
    .map((p) => ({ t: new Date(p.time).getTime(), v: Number(p.temperature_c), parcel: p.parcel_id || "" }))
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
  if (hasBand(band)) {
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

  // The stored excursions, behind the band and the lines, clipped to the chart's time range.
  const shaded = el("g", { class: "chart-excursions" }, svg);
  for (const span of options.spans || []) {
    const start = Math.max(t0, new Date(span.started_at).getTime());
    const end = Math.min(t1, span.ended_at ? new Date(span.ended_at).getTime() : t1);
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) continue;
    const rect = el(
      "rect",
      {
        class: "chart-excursion",
        x: x(start),
        width: Math.max(2, x(end) - x(start)),
        y: pad.top,
        height: height - pad.top - pad.bottom,
      },
      shaded,
    );
    if (options.spanTitle) el("title", {}, rect).textContent = options.spanTitle(span);
  }

  let outside = 0;
  if (hasBand(band)) {
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
  // One line per parcel, so that two parcels' readings are never joined to each other.
  const lines = new Map();
  for (const p of data) {
    if (!lines.has(p.parcel)) lines.set(p.parcel, []);
    lines.get(p.parcel).push(p);
  }
  for (const [parcel, line] of lines) {
    const path = line.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
    const node = el("path", { class: "chart-line", d: path }, svg);
    if (parcel) node.dataset.parcel = parcel;
  }
  const dots = el("g", { class: "chart-out" }, svg);
  for (const p of data) {
    if (hasBand(band) && (p.v < band.min_c || p.v > band.max_c)) {
      outside++;
      el("circle", { cx: x(p.t), cy: y(p.v), r: 3 }, dots);
    }
  }
  const last = data[data.length - 1];
  el("circle", { class: "chart-last", cx: x(last.t), cy: y(last.v), r: 5 }, svg);
  return outside;
}

/**
 * The raw range of every reading (the API's `temperature_range`: {readings, parcels, first_at,
 * last_at, min, max}) with one more reading, as a live update brings it; a new range when there
 * was none. The lowest and highest stay the earliest of their value.
 */
export function extendRange(range, reading) {
  if (reading.temperature_c === null || reading.temperature_c === undefined) return range;
  const point = { time: reading.time, temperature_c: Number(reading.temperature_c), parcel_id: reading.parcel_id || null };
  if (!range) {
    return { readings: 1, parcels: 1, first_at: point.time, last_at: point.time, min: point, max: point };
  }
  const later = (a, b) => new Date(a).getTime() > new Date(b).getTime();
  const extended = { ...range, readings: range.readings + 1 };
  if (later(point.time, range.last_at)) extended.last_at = point.time;
  if (later(range.first_at, point.time)) extended.first_at = point.time;
  const v = point.temperature_c;
  const m = range.min.temperature_c;
  if (v < m || (v === m && later(range.min.time, point.time))) extended.min = point;
  const h = range.max.temperature_c;
  if (v > h || (v === h && later(range.max.time, point.time))) extended.max = point;
  return extended;
}
