// The merchant's KPIs (GET /v1/kpis): each KPI against its target, then a bar chart per KPI per
// week and per carrier, the target drawn as a dashed line. Nothing is computed here but the
// drawing: the figures are the API's.
import { h } from "./dom.js";
import { api, flash } from "./ops_api.js";
import { locale, tr } from "./ops_i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const WEEK_CHOICES = [4, 8, 12, 26];
const state = { weeks: 8, carrier: "", carriers: new Set() };

function s(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function number(value, digits) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}

/** A KPI's value in its unit: a share as a percentage, days, hours or a plain number. */
export function formatValue(name, value) {
  if (value === null || value === undefined) return "–";
  if (name.endsWith("_rate") || name === "csat") return `${number(value * 100, value < 0.1 ? 1 : 0)} %`;
  if (name.startsWith("delivery_days")) return tr("unit_days", { v: number(value, 1) });
  if (name.startsWith("resolve_hours")) return tr("unit_hours", { v: number(value, 1) });
  return number(value, 1);
}

function targetText(metric) {
  if (!metric.target) return tr("no_target");
  const cmp = tr(metric.target.comparison);
  return tr("target", { cmp, value: formatValue(metric.name, metric.target.value) });
}

function verdict(metric) {
  if (metric.met === null) return ["info", metric.target ? tr("no_data") : tr("no_target")];
  return metric.met ? ["ok", tr("met")] : ["bad", tr("missed")];
}

function card(metric) {
  const [tone, text] = verdict(metric);
  return h(
    "article.kpi-card",
    { "data-kpi": metric.name },
    h("h3", {}, tr(`kpi_${metric.name}`)),
    h("p.kpi-value", {}, formatValue(metric.name, metric.value)),
    h("p.kpi-target", {}, targetText(metric), metric.target ? [" ", h(`span.badge.${tone}`, {}, text)] : null),
    h("p.muted", {}, tr("based_on", { n: metric.count })),
  );
}

/** Bars of one KPI over categories (weeks or carriers), the target as a dashed line. */
export function barChart(name, categories, metrics) {
  const width = 360;
  const height = 170;
  const left = 44;
  const bottom = 24;
  const top = 10;
  const target = metrics.find((m) => m && m.target)?.target || null;
  const values = metrics.map((m) => (m ? m.value : null));
  const isShare = name.endsWith("_rate") || name === "csat";
  const highest = Math.max(isShare ? 1 : 0, target ? target.value : 0, ...values.filter((v) => v !== null));
  const max = highest > 0 ? highest * (isShare ? 1 : 1.15) : 1;
  const plotHeight = height - top - bottom;
  const y = (v) => top + plotHeight - (v / max) * plotHeight;
  const slot = (width - left - 4) / Math.max(1, categories.length);
  const bars = categories.map((label, i) => {
    const metric = metrics[i];
    const x = left + i * slot + slot * 0.15;
    const barWidth = slot * 0.7;
    const value = metric ? metric.value : null;
    const tone = !metric || metric.met === null ? "kpi-bar-info" : metric.met ? "kpi-bar-ok" : "kpi-bar-bad";
    return s(
      "g",
      {},
      value === null
        ? s("text", { x: x + barWidth / 2, y: y(0) - 4, "text-anchor": "middle", class: "kpi-none" }, "–")
        : s("rect", { x, y: y(value), width: barWidth, height: Math.max(1, y(0) - y(value)), class: `kpi-bar ${tone}` }, s("title", {}, `${label}: ${formatValue(name, value)}`)),
      s("text", { x: x + barWidth / 2, y: height - 8, "text-anchor": "middle", class: "kpi-axis" }, label),
    );
  });
  const ticks = [0, max / 2, max].map((v) =>
    s("g", {}, s("line", { x1: left, x2: width - 2, y1: y(v), y2: y(v), class: "kpi-grid" }), s("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end", class: "kpi-axis" }, formatValue(name, v).replace(/ working days| jours ouvrés/, ""))),
  );
  const summary = categories.map((label, i) => `${label} ${formatValue(name, values[i])}`).join(", ");
  return s(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "kpi-chart", role: "img", "aria-label": tr("chart_label", { kpi: tr(`kpi_${name}`), values: summary }) },
    ticks,
    bars,
    target ? s("line", { x1: left, x2: width - 2, y1: y(target.value), y2: y(target.value), class: "kpi-target-line" }, s("title", {}, targetText({ name, target }))) : null,
  );
}

function chartCards(report, key) {
  const groups = key === "week" ? report.by_week : report.by_carrier;
  const labels = groups.map((g) => (key === "week" ? g.week.slice(5) : g.carrier));
  const names = report.overall.metrics.map((m) => m.name);
  return names.map((name) =>
    h(
      "figure.kpi-figure",
      { "data-kpi": name },
      barChart(
        name,
        labels,
        groups.map((g) => g.metrics.find((m) => m.name === name)),
      ),
      h("figcaption", {}, tr(`kpi_${name}`)),
    ),
  );
}

export function kpiView(view) {
  let stopped = false;
  async function render() {
    let report;
    try {
      const query = new URLSearchParams({ weeks: String(state.weeks) });
      if (state.carrier) query.set("carrier", state.carrier);
      report = await api(`/v1/kpis?${query}`);
    } catch (error) {
      if (error.status !== 401) flash(tr("kpis_failed", { message: error.message }), "bad");
      return;
    }
    if (stopped) return;
    // The carriers seen so far: filtered to one, the report names only that one.
    for (const c of report.by_carrier) state.carriers.add(c.carrier);
    const carriers = [...state.carriers].sort();
    const controls = h(
      "form.filters",
      { "aria-label": tr("filters"), onsubmit: (event) => event.preventDefault() },
      h(
        "div.field",
        {},
        h("label", { for: "kpi-weeks" }, tr("weeks")),
        h(
          "select",
          { id: "kpi-weeks", onchange: (event) => ((state.weeks = Number(event.target.value)), render()) },
          WEEK_CHOICES.map((w) => h("option", { value: w, selected: w === state.weeks }, String(w))),
        ),
      ),
      h(
        "div.field",
        {},
        h("label", { for: "kpi-carrier" }, tr("carrier")),
        h(
          "select",
          { id: "kpi-carrier", onchange: (event) => ((state.carrier = event.target.value), render()) },
          h("option", { value: "" }, tr("all_carriers")),
          carriers.map((c) => h("option", { value: c, selected: c === state.carrier }, c)),
        ),
      ),
    );
    view.replaceChildren(
      h(
        "section.card",
        { "aria-labelledby": "kpi-title" },
        h("h1", { id: "kpi-title" }, tr("kpis_title")),
        h("p.muted", {}, tr("kpis_intro"), " ", tr("kpi_shipments", { n: report.overall.shipments, d: report.overall.delivered })),
        controls,
        h("div.kpi-cards", { id: "kpi-cards" }, report.overall.metrics.map(card)),
      ),
      h("section.card", { "aria-labelledby": "kpi-weeks-title" }, h("h2", { id: "kpi-weeks-title" }, tr("per_week")), h("div.kpi-charts", { id: "kpi-by-week" }, chartCards(report, "week"))),
      h("section.card", { "aria-labelledby": "kpi-carriers-title" }, h("h2", { id: "kpi-carriers-title" }, tr("per_carrier")), h("div.kpi-charts", { id: "kpi-by-carrier" }, chartCards(report, "carrier"))),
    );
  }
  render();
  return () => {
    stopped = true;
  };
}
