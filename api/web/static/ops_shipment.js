// A shipment seen by ops (summary, map, chart, timeline, alerts, exceptions, PDF report, live)
// and the fleet map.
import { drawTemperatureChart, extendRange } from "./chart.js";
import { SEVERITY_TONE, STATE_TONE, duration, h, when } from "./dom.js";
import { createFleetMap, createMap } from "./map.js";
import { alertsTable } from "./ops_exceptions.js";
import { legsCard } from "./ops_legs.js";
import { api, authHeaders, flash } from "./ops_api.js";
import { locale, tr, word } from "./ops_i18n.js";
import { streamEvents } from "./sse.js";

const MAX_PAGES = 10;

// The rule engine's stored verdict, as the shopper sees it (never judged here).
const CONDITION_BADGES = {
  in_spec: ["ok", "in_spec"],
  excursion_within_allowance: ["warn", "within_allowance"],
  out_of_spec: ["bad", "out_of_spec"],
};

function conditionBadge(condition) {
  const [tone, label] = CONDITION_BADGES[condition ? condition.state : ""] || ["info", "no_readings_judged"];
  return h(`span.badge.${tone}`, {}, tr(label));
}

async function recordContact(tn, button) {
  // One button: the shopper asked where the order is ("where is my order" contacts, a KPI).
  button.disabled = true;
  try {
    const contact = await api(`/v1/shipments/${encodeURIComponent(tn)}/contacts`, { method: "POST", body: { kind: "where_is_my_order" } });
    flash(tr("wismo_recorded", { n: contact.contacts }));
  } catch (error) {
    if (error.status !== 401) flash(error.message, "bad");
  } finally {
    button.disabled = false;
  }
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
    if (error.status !== 401) flash(tr("report_failed", { message: error.message }), "bad");
  } finally {
    button.disabled = false;
  }
}

function eventLine(e) {
  const actor = e.actor || "?";
  const id = e.exception_id;
  const what = {
    checkpoint: () => `${e.label || e.status}${e.location ? ` · ${e.location}` : ""}${e.message ? ` · ${e.message}` : ""}`,
    custody_assigned: () =>
      tr("ev_custody_assigned", { parcel: e.parcel_id || "", vehicle: e.vehicle_id || tr("a_vehicle") }) + (e.device_id ? tr("ev_device", { device: e.device_id }) : ""),
    custody_released: () => tr("ev_custody_released", { parcel: e.parcel_id || "" }) + (e.vehicle_id ? tr("ev_from_vehicle", { vehicle: e.vehicle_id }) : ""),
    alert_started: () => tr("ev_alert_started", { kind: e.kind }) + (e.peak !== null && e.peak !== undefined ? tr("ev_peak", { peak: e.peak }) : ""),
    alert_ended: () => tr("ev_alert_ended", { kind: e.kind }),
    exception_opened: () => tr("ev_exception_opened", { id, title: e.title || e.kind }),
    exception_acknowledged: () => tr("ev_exception_acknowledged", { id, actor }),
    exception_investigating: () => tr("ev_exception_investigating", { id, actor }),
    exception_resolved: () => tr("ev_exception_resolved", { id, actor, resolution: word("res", e.resolution) }),
    exception_assigned: () => tr("ev_exception_assigned", { id, assignee: e.assignee || tr("nobody") }),
    exception_comment: () => tr("ev_exception_comment", { id, actor, comment: e.comment || "" }),
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
    const degrees = (v) => `${new Intl.NumberFormat(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(v)} °C`;
    const extreme = (e) => `${when(e.time)}${range.parcels > 1 ? `, ${e.parcel_id}` : ""}`;
    const description = range
      ? tr("chart_desc", {
          n: range.readings,
          from: when(range.first_at),
          to: when(range.last_at),
          min: degrees(range.min.temperature_c),
          min_at: extreme(range.min),
          max: degrees(range.max.temperature_c),
          max_at: extreme(range.max),
          last: readings.length ? degrees(readings.at(-1).temperature_c) : "–",
        }) + (spans.length ? ` ${spans.length === 1 ? tr("chart_span_one") : tr("chart_spans", { n: spans.length })}` : "")
      : tr("no_reading");
    drawTemperatureChart(chart, readings, band, {
      title: tr("chart_title_of", { tn }),
      description,
      formatTime: (date) => new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(date),
      formatTemp: (v) => `${Math.round(v * 10) / 10}°`,
      spans,
      spanTitle: (s) =>
        tr("span_title", { kind: s.kind, severity: word("severity", s.severity), parcel: s.parcel_id, from: when(s.started_at), to: s.ended_at ? when(s.ended_at) : tr("now") }),
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
    const report = h("button.button", { type: "button", onclick: (event) => downloadReport(tn, event.currentTarget) }, tr("download_report"));
    const wismo = h("button.button.secondary", { type: "button", id: "wismo", onclick: (event) => recordContact(tn, event.currentTarget) }, tr("wismo_button"));
    const eta = summary.eta
      ? `${when(summary.eta.at)} (${summary.eta.basis}${summary.eta.remaining_km !== undefined ? `, ${tr("km_left", { km: summary.eta.remaining_km.toFixed(1) })}` : ""})`
      : tr("no_estimate");
    const mapNode = h("div.map", { id: "ops-map", role: "region", "aria-label": tr("route_of", { tn }) });
    view.replaceChildren(
      h("p.crumbs", {}, h("a", { href: "#/shipments" }, `← ${tr("shipments_title")}`), " · ", h("a", { href: "#/queue" }, tr("queue_title"))),
      h(
        "section.card",
        { "aria-labelledby": "ship-title" },
        h("div.section-head", {}, h("h1", { id: "ship-title" }, tr("shipment_title", { tn: timeline.tracking_number })), h("div.head-actions", {}, live, wismo, report)),
        h(
          "dl.facts",
          {},
          h("dt", {}, tr("status")),
          h("dd", {}, status.label || status.code || "–"),
          h("dt", {}, tr("condition")),
          h("dd", {}, conditionBadge(timeline.summary.condition)),
          h("dt", {}, tr("profile")),
          h("dd", {}, timeline.profile || "–"),
          h("dt", {}, tr("promised")),
          h("dd", {}, summary.promised_at ? when(summary.promised_at) : "–"),
          h("dt", {}, tr("eta")),
          h("dd", {}, eta, summary.trending_late ? [" ", badge("warn", tr("trending_late"))] : null),
          h("dt", {}, tr("parcels")),
          h("dd", {}, timeline.parcels.map((p) => p.parcel_id).join(", ")),
        ),
        timeline.truncated ? h("p.muted", {}, tr("only_first")) : null,
      ),
      h(
        "div.two",
        {},
        h("section.card", { "aria-labelledby": "ship-map-title" }, h("h2", { id: "ship-map-title" }, tr("route")), mapNode, h("p.caption", {}, tr("positions_n", { n: positions.length }))),
        h("section.card", { "aria-labelledby": "ship-chart-title" }, h("h2", { id: "ship-chart-title" }, tr("temperature")), h("figure.chart-figure", {}, chart, h("figcaption", {}, chartCaption))),
      ),
      h(
        "section.card",
        { "aria-labelledby": "ship-exc-title" },
        h("h2", { id: "ship-exc-title" }, tr("exceptions_n", { n: exceptions.items.length })),
        exceptions.items.length
          ? h(
              "ul.plain",
              {},
              exceptions.items.map((x) =>
                h("li", {}, badge(SEVERITY_TONE[x.severity] || "info", word("severity", x.severity)), " ", h("a", { href: `#/exception/${x.exception_id}` }, `#${x.exception_id} ${x.title}`), " ", badge(STATE_TONE[x.state] || "info", word("state", x.state)), ` · ${duration(x.age_s)}`),
              ),
            )
          : h("p.muted", {}, tr("no_exception")),
      ),
      legsCard(tn),
      h("section.card", { "aria-labelledby": "ship-alerts-title" }, h("h2", { id: "ship-alerts-title" }, tr("alerts_n", { n: alerts.items.length })), alertsTable(alerts.items)),
      h(
        "section.card",
        { "aria-labelledby": "ship-events-title" },
        h("h2", { id: "ship-events-title" }, tr("timeline")),
        timeline.events.length
          ? h("ol.events", {}, [...timeline.events].reverse().map((e) => h("li", {}, h("time", { datetime: e.time }, when(e.time)), " ", eventLine(e))))
          : h("p.muted", {}, tr("no_event")),
      ),
    );
    map = createMap(mapNode, { offlineCredit: tr("basemap"), routeLabel: tr("route"), positionLabel: tr("last_position") });
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
          live.textContent = connected ? tr("live") : tr("reconnecting");
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
  const mapNode = h("div.map.fleet-map", { id: "fleet-map", role: "region", "aria-label": tr("fleet_map") });
  const body = h("tbody");
  const note = h("p.muted");
  view.append(
    h(
      "section.card",
      { "aria-labelledby": "fleet-title" },
      h("h1", { id: "fleet-title" }, tr("fleet_title")),
      mapNode,
      note,
      h(
        "div.table-wrap",
        {},
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h("tr", {}, ["col_vehicle", "col_goods", "col_gateway", "col_gateway_state", "col_last_seen", "col_outbox", "col_last_position"].map((c) => h("th", { scope: "col" }, tr(c)))),
          ),
          body,
        ),
      ),
    ),
  );
  const map = createFleetMap(mapNode, { offlineCredit: tr("basemap") });
  let timer = null;
  async function load() {
    let vehicles;
    try {
      vehicles = await api("/v1/vehicles");
    } catch (error) {
      if (error.status !== 401) flash(tr("fleet_failed", { message: error.message }), "bad");
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
    note.textContent = tr("fleet_note", { vehicles: rows.length === 1 ? tr("vehicles_one") : tr("vehicles_many", { n: rows.length }) });
    body.replaceChildren(
      ...rows.map((r) =>
        h(
          "tr",
          {},
          h("td", {}, r.v.name || r.v.vehicle_id),
          h("td", {}, r.v.parcels ? [conditionBadge({ state: r.v.condition }), ` ${r.v.parcels} parcel${r.v.parcels === 1 ? "" : "s"}`] : "–"),
          h("td", {}, r.v.gateway_id || "–"),
          h("td", {}, h(`span.badge.${r.healthy ? "ok" : "bad"}`, {}, r.gateway.state || (r.healthy ? "ok" : "stale"))),
          h("td", {}, r.lastSeen ? `${when(r.lastSeen)} (${tr("ago", { time: duration(r.age) })})` : tr("never")),
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
