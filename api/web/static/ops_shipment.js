// A shipment seen by ops (summary, map, chart, timeline, alerts, exceptions, PDF report, live)
// and the fleet map.
import { drawTemperatureChart, extendRange } from "./chart.js";
import { SEVERITY_TONE, STATE_TONE, duration, h, when } from "./dom.js";
import { createFleetMap, createMap } from "./map.js";
import { alertsTable } from "./ops_exceptions.js";
import { legsCard } from "./ops_legs.js";
import { api, authHeaders, flash } from "./ops_api.js";
import { streamEvents } from "./sse.js";

const MAX_PAGES = 10;

// The rule engine's stored verdict, as the shopper sees it (never judged here).
const CONDITION_BADGES = {
  in_spec: ["ok", "In spec"],
  excursion_within_allowance: ["warn", "Excursion within allowance"],
  out_of_spec: ["bad", "Out of spec"],
};

function conditionBadge(condition) {
  const [tone, label] = CONDITION_BADGES[condition ? condition.state : ""] || ["info", "no readings judged"];
  return h(`span.badge.${tone}`, {}, label);
}

async function wholeTimeline(tn) {
  // Follow next_cursor: the timeline is paginated (5,000 items a page at most).
  const base = `/v1/shipments/${encodeURIComponent(tn)}/timeline?limit=5000`;
  const first = await api(base);
  let cursor = first.next_cursor;
  for (let page = 1; cursor && page < MAX_PAGES; page++) {
    const next = await api(`${base}&cursor=${encodeURIComponent(cursor)}`);
    first.items.push(...next.items);
    cursor = next.next_cursor;
  }
  first.truncated = Boolean(cursor);
  return first;
}

async function downloadReport(tn, button) {
  button.disabled = true;
  try {
    const response = await api(`/v1/shipments/${encodeURIComponent(tn)}/report.pdf`, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: `coldtrail-${tn}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    if (error.status !== 401) flash(`Report: ${error.message}`, "bad");
  } finally {
    button.disabled = false;
  }
}

function eventLine(e) {
  const what = {
    checkpoint: () => `${e.label || e.status}${e.location ? ` · ${e.location}` : ""}${e.message ? ` · ${e.message}` : ""}`,
    custody_assigned: () => `Custody: parcel ${e.parcel_id || ""} to ${e.vehicle_id || "a vehicle"}${e.device_id ? ` (device ${e.device_id})` : ""}`,
    custody_released: () => `Custody ended: parcel ${e.parcel_id || ""}${e.vehicle_id ? ` from ${e.vehicle_id}` : ""}`,
    alert_started: () => `Alert started: ${e.kind}${e.peak !== null && e.peak !== undefined ? `, peak ${e.peak}` : ""}`,
    alert_ended: () => `Alert ended: ${e.kind}`,
    exception_opened: () => `Exception #${e.exception_id} opened: ${e.title || e.kind}`,
    exception_acknowledged: () => `Exception #${e.exception_id} acknowledged by ${e.actor || "?"}`,
    exception_investigating: () => `Exception #${e.exception_id} under investigation (${e.actor || "?"})`,
    exception_resolved: () => `Exception #${e.exception_id} resolved: ${(e.resolution || "").replaceAll("_", " ")} (${e.actor || "?"})`,
    exception_assigned: () => `Exception #${e.exception_id} assigned to ${e.assignee || "nobody"}`,
    exception_comment: () => `Comment on #${e.exception_id} by ${e.actor || "?"}: ${e.comment || ""}`,
  }[e.type];
  return what ? what() : `${e.type} ${e.kind || ""}`;
}

export function shipmentView(view, tn) {
  let stream = null;
  let stopped = false;
  let map = null;
  let readings = [];
  let redraw = null;
  const chart = h("div.chart", { id: "ops-chart" });
  const chartCaption = h("p.caption");
  const live = h("span.live", { role: "status" });

  // The lowest and highest of every reading (the API's raw range), kept up to date by the live
  // readings: not of the pages loaded, which may stop short of the whole shipment.
  let range = null;
  let spans = [];

  function drawChart(band) {
    const description = range
      ? `${range.readings} readings, ${when(range.first_at)} to ${when(range.last_at)}: min ${range.min.temperature_c.toFixed(1)} °C (${when(range.min.time)}${range.parcels > 1 ? `, ${range.min.parcel_id}` : ""}), max ${range.max.temperature_c.toFixed(1)} °C (${when(range.max.time)}${range.parcels > 1 ? `, ${range.max.parcel_id}` : ""}), last ${readings.length ? readings.at(-1).temperature_c.toFixed(1) : "–"} °C.${spans.length ? ` ${spans.length} temperature alert${spans.length === 1 ? "" : "s"} shaded.` : ""}`
      : "No reading yet.";
    drawTemperatureChart(chart, readings, band, {
      title: `Temperatures of ${tn}`,
      description,
      formatTime: (date) => new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" }).format(date),
      formatTemp: (v) => `${Math.round(v * 10) / 10}°`,
      spans,
      spanTitle: (s) => `${s.kind} (${s.severity}) on ${s.parcel_id}: ${when(s.started_at)} to ${s.ended_at ? when(s.ended_at) : "now"}`,
    });
    chartCaption.textContent = description;
  }

  async function render() {
    let timeline;
    let alerts;
    let exceptions;
    try {
      [timeline, alerts, exceptions] = await Promise.all([
        wholeTimeline(tn),
        api(`/v1/shipments/${encodeURIComponent(tn)}/alerts`),
        api(`/v1/exceptions?tracking_number=${encodeURIComponent(tn)}&order=newest&limit=100`),
      ]);
    } catch (error) {
      if (error.status !== 401) view.replaceChildren(h("section.card", {}, h("h1", {}, tn), h("p.form-error", { role: "alert" }, error.message)));
      return;
    }
    if (stopped) return;
    const summary = timeline.summary || {};
    const status = summary.status || {};
    readings = timeline.items.filter((i) => i.kind === "reading" && i.temperature_c !== null);
    const positions = timeline.items.filter((i) => i.kind === "position");
    const band = summary.band || null;
    range = summary.temperature_range || null;
    spans = summary.excursions || [];
    const report = h("button.button", { type: "button", onclick: (event) => downloadReport(tn, event.currentTarget) }, "Download PDF report");
    const eta = summary.eta
      ? `${when(summary.eta.at)} (${summary.eta.basis}${summary.eta.remaining_km !== undefined ? `, ${summary.eta.remaining_km.toFixed(1)} km left` : ""})`
      : "no estimate";
    const mapNode = h("div.map", { id: "ops-map", role: "region", "aria-label": `Route of ${tn}` });
    view.replaceChildren(
      h("p.crumbs", {}, h("a", { href: "#/queue" }, "← Exception queue")),
      h(
        "section.card",
        { "aria-labelledby": "ship-title" },
        h("div.section-head", {}, h("h1", { id: "ship-title" }, `Shipment ${timeline.tracking_number}`), h("div.head-actions", {}, live, report)),
        h(
          "dl.facts",
          {},
          h("dt", {}, "Status"),
          h("dd", {}, status.label || status.code || "–"),
          h("dt", {}, "Condition"),
          h("dd", {}, conditionBadge(timeline.summary.condition)),
          h("dt", {}, "Profile"),
          h("dd", {}, timeline.profile || "–"),
          h("dt", {}, "Promised"),
          h("dd", {}, summary.promised_at ? when(summary.promised_at) : "–"),
          h("dt", {}, "ETA"),
          h("dd", {}, eta, summary.trending_late ? [" ", badge("warn", "trending late")] : null),
          h("dt", {}, "Parcels"),
          h("dd", {}, timeline.parcels.map((p) => p.parcel_id).join(", ")),
        ),
        timeline.truncated ? h("p.muted", {}, "Only the first 50,000 items are shown.") : null,
      ),
      h(
        "div.two",
        {},
        h("section.card", { "aria-labelledby": "ship-map-title" }, h("h2", { id: "ship-map-title" }, "Route"), mapNode, h("p.caption", {}, `${positions.length} positions`)),
        h("section.card", { "aria-labelledby": "ship-chart-title" }, h("h2", { id: "ship-chart-title" }, "Temperature"), h("figure.chart-figure", {}, chart, h("figcaption", {}, chartCaption))),
      ),
      h(
        "section.card",
        { "aria-labelledby": "ship-exc-title" },
        h("h2", { id: "ship-exc-title" }, `Exceptions (${exceptions.items.length})`),
        exceptions.items.length
          ? h(
              "ul.plain",
              {},
              exceptions.items.map((x) =>
                h("li", {}, badge(SEVERITY_TONE[x.severity] || "info", x.severity), " ", h("a", { href: `#/exception/${x.exception_id}` }, `#${x.exception_id} ${x.title}`), " ", badge(STATE_TONE[x.state] || "info", x.state), ` · ${duration(x.age_s)}`),
              ),
            )
          : h("p.muted", {}, "No exception."),
      ),
      legsCard(tn),
      h("section.card", { "aria-labelledby": "ship-alerts-title" }, h("h2", { id: "ship-alerts-title" }, `Alerts (${alerts.items.length})`), alertsTable(alerts.items)),
      h(
        "section.card",
        { "aria-labelledby": "ship-events-title" },
        h("h2", { id: "ship-events-title" }, "Timeline"),
        timeline.events.length
          ? h("ol.events", {}, [...timeline.events].reverse().map((e) => h("li", {}, h("time", { datetime: e.time }, when(e.time)), " ", eventLine(e))))
          : h("p.muted", {}, "No event yet."),
      ),
    );
    map = createMap(mapNode, { offlineCredit: "Basemap © Natural Earth", routeLabel: "Route", positionLabel: "Last position" });
    map.setRoute(positions);
    map.setPosition(summary.position || positions.at(-1));
    map.fit();
    drawChart(band);
    redraw = () => drawChart(band);
    if (!stream) {
      stream = streamEvents(`/v1/shipments/${encodeURIComponent(tn)}/live`, authHeaders, {
        onEvent: (name, data) => {
          let payload;
          try {
            payload = JSON.parse(data);
          } catch {
            return;
          }
          if (name === "reading" && payload.temperature_c !== null) {
            // Drawn on its first parcel's line, as the timeline's items are.
            readings.push({ ...payload, parcel_id: (payload.parcel_ids || [])[0] || null });
            for (const parcel of payload.parcel_ids || [null]) range = extendRange(range, { ...payload, parcel_id: parcel });
            redraw?.();
          } else if (name === "position" && map) {
            map.addPoint(payload);
            map.setPosition(payload);
          } else if (name === "status" || name === "alert") {
            render();
          }
        },
        onState: (connected) => {
          live.className = `live${connected ? " on" : ""}`;
          live.textContent = connected ? "Live" : "Reconnecting…";
        },
        onFatal: () => {
          live.textContent = "";
        },
      });
    }
  }

  function badge(tone, text) {
    return h(`span.badge.${tone}`, {}, text);
  }

  let resizeTimer = null;
  const onResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      redraw?.();
      map?.invalidate();
    }, 150);
  };
  window.addEventListener("resize", onResize);
  render();
  return () => {
    stopped = true;
    stream?.stop();
    window.removeEventListener("resize", onResize);
    clearTimeout(resizeTimer);
  };
}

// --- fleet -------------------------------------------------------------------------------------

export function fleetView(view) {
  const mapNode = h("div.map.fleet-map", { id: "fleet-map", role: "region", "aria-label": "Fleet map" });
  const body = h("tbody");
  const note = h("p.muted");
  view.append(
    h(
      "section.card",
      { "aria-labelledby": "fleet-title" },
      h("h1", { id: "fleet-title" }, "Fleet"),
      mapNode,
      note,
      h(
        "div.table-wrap",
        {},
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["Vehicle", "Goods", "Gateway", "Gateway state", "Last seen", "Outbox", "Last position"].map((c) => h("th", { scope: "col" }, c)))),
          body,
        ),
      ),
    ),
  );
  const map = createFleetMap(mapNode, { offlineCredit: "Basemap © Natural Earth" });
  let timer = null;
  async function load() {
    let vehicles;
    try {
      vehicles = await api("/v1/vehicles");
    } catch (error) {
      if (error.status !== 401) flash(`Fleet: ${error.message}`, "bad");
      return;
    }
    const items = vehicles.items;
    const now = Date.now();
    const rows = items.map((v) => {
      const gateway = v.gateway || {};
      const lastSeen = gateway.last_seen || null;
      const age = lastSeen ? (now - new Date(lastSeen).getTime()) / 1000 : null;
      const outbox = gateway.outbox_depth ?? null;
      const position = v.position;
      const healthy = age !== null && age < 300 && (outbox === null || outbox < 100);
      return { v, gateway, lastSeen, age, outbox, position, healthy };
    });
    map.setVehicles(rows.map((r) => ({ position: r.position, healthy: r.healthy, condition: r.v.condition, label: r.v.name || r.v.vehicle_id })));
    note.textContent = `${rows.length} vehicle${rows.length === 1 ? "" : "s"}; colour: the condition of the goods it carries (red out of spec, orange an excursion within allowance); dark ring: gateway not seen in the last 5 minutes or a long outbox.`;
    body.replaceChildren(
      ...rows.map((r) =>
        h(
          "tr",
          {},
          h("td", {}, r.v.name || r.v.vehicle_id),
          h("td", {}, r.v.parcels ? [conditionBadge({ state: r.v.condition }), ` ${r.v.parcels} parcel${r.v.parcels === 1 ? "" : "s"}`] : "–"),
          h("td", {}, r.v.gateway_id || "–"),
          h("td", {}, h(`span.badge.${r.healthy ? "ok" : "bad"}`, {}, r.gateway.state || (r.healthy ? "ok" : "stale"))),
          h("td", {}, r.lastSeen ? `${when(r.lastSeen)} (${duration(r.age)} ago)` : "never"),
          h("td.num", {}, r.outbox ?? "–"),
          h("td", {}, r.position ? `${r.position.lat.toFixed(4)}, ${r.position.lon.toFixed(4)} at ${when(r.position.time)}` : "–"),
        ),
      ),
    );
  }
  load();
  timer = setInterval(load, 30_000);
  return () => clearInterval(timer);
}
