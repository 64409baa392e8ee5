// The shopper's tracking page. The token is read from this page's address, never from the HTML.
import { drawTemperatureChart, extendRange } from "./chart.js";
import {
  LANGUAGES,
  currentLanguage,
  formatTemperature,
  formatTime,
  rememberLanguage,
  statusLabel,
  t,
} from "./i18n.js";
import { createMap } from "./map.js";
import { createNotify } from "./notify.js";
import { renderRating } from "./track_rating.js";

const token = decodeURIComponent(location.pathname.replace(/^\/t\//, "").replace(/\/.*$/, ""));
const api = `/v1/track/${encodeURIComponent(token)}`;
const $ = (id) => document.getElementById(id);

const state = { lang: currentLanguage(), data: null, live: false, ended: false, updatedAt: null };
let map = null;
let source = null;
let refetchTimer = null;
let redrawTimer = null;
const notify = createNotify($("notify"), api, () => state.lang);

function text(id, value) {
  $(id).textContent = value;
}

function translateStatic() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(state.lang, node.dataset.i18n);
  }
  $("lang-switch").setAttribute("aria-label", t(state.lang, "language"));
  for (const button of $("lang-switch").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
  }
  $("map").setAttribute("aria-label", t(state.lang, "map_label"));
}

// --- brand -------------------------------------------------------------------------------------

function luminance(hex) {
  const channel = (i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

function logoUrl(url) {
  // The server's CSP allows this site and the brand logo's https host, nothing else.
  try {
    const parsed = new URL(url, location.href);
    return parsed.origin === location.origin || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function renderBrand(brand) {
  if (!brand) return;
  if (brand.name) {
    text("brand-name", brand.name);
    document.title = `${brand.name} · ${t(state.lang, "tracking_number")}`;
  }
  const logo = brand.logo_url ? logoUrl(brand.logo_url) : null;
  if (logo) {
    $("brand-logo").src = logo;
    $("brand-logo").alt = brand.name || "";
  }
  const color = brand.primary_color;
  if (typeof color === "string" && /^#[0-9a-fA-F]{6}$/.test(color)) {
    const root = document.documentElement.style;
    root.setProperty("--brand", color);
    // White text if it meets AA (4.5:1) on the brand colour, else near-black.
    root.setProperty("--on-brand", 1.05 / (luminance(color) + 0.05) >= 4.5 ? "#ffffff" : "#111418");
  }
}

// --- status ------------------------------------------------------------------------------------

// The carriers of the journey: name, their tracking number and a link to their own page.
function renderCarriers(data) {
  const box = $("carriers");
  const legs = (data.legs || []).filter((leg) => leg.kind === "carrier");
  box.hidden = legs.length === 0;
  const parts = [];
  for (const leg of legs) {
    const item = document.createElement("span");
    item.className = "carrier";
    const name = document.createElement("strong");
    name.textContent = leg.carrier_label || leg.carrier;
    item.append(`${t(state.lang, "carried_by")} `, name, ` · ${leg.carrier_tracking_number} `);
    const url = leg.carrier_url ? httpsUrl(leg.carrier_url) : null;
    if (url) {
      const link = document.createElement("a");
      link.href = url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      link.textContent = t(state.lang, "carrier_page");
      item.append("(", link, ")");
    }
    parts.push(item);
  }
  box.replaceChildren(...parts);
}

function renderStatus(data) {
  const lang = state.lang;
  text("tracking-number", data.tracking_number);
  renderCarriers(data);
  const status = data.status || {};
  text("headline", statusLabel(lang, status.code, status.label));
  let eta = "";
  if (status.code === "Delivered") {
    eta = `${t(lang, "delivered_at")} · ${formatTime(lang, status.at)}`;
  } else if (data.eta && data.eta.at) {
    const key = `basis_${String(data.eta.basis || "").replace(/\W+/g, "_")}`;
    const basis = t(lang, key);
    eta = `${t(lang, "eta")} ${formatTime(lang, data.eta.at)}`;
    if (basis !== key) eta += ` (${basis})`;
  } else if (data.promised_at) {
    eta = `${t(lang, "promised")} ${formatTime(lang, data.promised_at)}`;
  } else {
    eta = t(lang, "eta_unknown");
  }
  text("eta", eta);
  const late = Boolean(data.eta && data.eta.trending_late && status.code !== "Delivered");
  $("late").hidden = !late;
  if (late) {
    const promised = data.promised_at ? ` (${t(lang, "promised")} ${formatTime(lang, data.promised_at)})` : "";
    text("late", t(lang, "trending_late") + promised);
  }
  const route =
    data.origin || data.destination
      ? t(lang, "from_to", { origin: data.origin || "…", destination: data.destination || "…" })
      : "";
  text("route-text", route);
  renderCondition(data.condition);
  renderDelivery(data);
  renderRating(data, lang, api);
}

// --- delivery: the end of the parcel's story ---------------------------------------------------

function httpsUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function renderDelivery(data) {
  const lang = state.lang;
  const delivered = data.delivered;
  $("delivery").hidden = !delivered;
  if (!delivered) return;
  const time = formatTime(lang, delivered.at);
  let line = delivered.received_by
    ? t(lang, "delivered_received_by", { time, name: delivered.received_by })
    : t(lang, "delivered_line", { time });
  if (delivered.location) line += ` ${t(lang, "delivered_where", { place: delivered.location })}`;
  text("delivery-text", line);
  // The final condition: the rule engine's stored verdict.
  const verdict = data.condition ? data.condition.state : "no_data";
  const condition = $("delivery-condition");
  condition.hidden = verdict === "no_data";
  condition.className = `delivery-condition${verdict === "out_of_spec" ? " bad" : ""}`;
  if (verdict === "in_spec") {
    condition.textContent = t(lang, "arrived_in_spec");
  } else if (verdict === "excursion_within_allowance") {
    condition.textContent = t(lang, "arrived_within_allowance");
  } else if (verdict === "out_of_spec") {
    const details = document.createElement("a");
    details.href = "#chart-title";
    details.textContent = t(lang, "arrived_excursion");
    condition.replaceChildren(details);
  }
  const proof = [];
  if (delivered.signature_name) {
    const signed = document.createElement("span");
    signed.textContent = t(lang, "delivered_signed", { name: delivered.signature_name });
    proof.push(signed);
  }
  const photo = delivered.photo_url ? httpsUrl(delivered.photo_url) : null;
  if (photo) {
    const link = document.createElement("a");
    link.href = photo;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.textContent = t(lang, "delivered_photo");
    if (proof.length) proof.push(document.createTextNode(" · "));
    proof.push(link);
  }
  $("delivery-proof").replaceChildren(...proof);
  $("delivery-proof").hidden = !proof.length;
}

// The goods' condition is the rule engine's stored verdict (condition.state); the page only says
// it. A brief excursion within the product's allowance is said as such, calmly.
const BADGES = {
  in_spec: ["ok", "in_spec"],
  excursion_within_allowance: ["warn", "within_allowance"],
  out_of_spec: ["bad", "excursion"],
};

function allowanceText(lang, condition) {
  const uses = (condition.parcels || []).flatMap((p) => p.allowance || []);
  const going = uses.find((u) => u.beyond && u.delay_min !== null && !u.alerted);
  if (going) {
    return t(lang, "allowance_delay", {
      used: Math.round(going.delay_used_min || 0),
      allowed: Math.round(going.delay_min),
      limit: formatTemperature(lang, going.limit_c),
    });
  }
  const budget = uses.find((u) => u.budget_min !== null && u.budget_used_min > 0 && !u.alerted);
  if (budget) {
    return t(lang, "allowance_budget", {
      used: Math.round(budget.budget_used_min),
      allowed: Math.round(budget.budget_min),
      limit: formatTemperature(lang, budget.limit_c),
    });
  }
  return null;
}

function renderCondition(condition) {
  const lang = state.lang;
  const badge = $("condition-badge");
  const known = condition ? BADGES[condition.state] : null;
  if (!known) {
    badge.hidden = true;
    text("condition-text", t(lang, "no_condition"));
    return;
  }
  badge.hidden = false;
  badge.className = `badge ${known[0]}`;
  badge.textContent = t(lang, known[1]);
  const parts = [];
  if (condition.state === "excursion_within_allowance") {
    const used = allowanceText(lang, condition);
    parts.push(used || t(lang, "within_allowance_text"));
  }
  if (condition.last) {
    parts.push(
      t(lang, "last_reading", {
        temp: formatTemperature(lang, condition.last.temperature_c),
        time: formatTime(lang, condition.last.time, false),
      }),
    );
  }
  if (condition.band) {
    parts.push(
      t(lang, "band", {
        min: formatTemperature(lang, condition.band.min_c),
        max: formatTemperature(lang, condition.band.max_c),
      }),
    );
  }
  text("condition-text", parts.join(" · "));
}

// --- map ---------------------------------------------------------------------------------------

function renderMap(data) {
  if (!map) {
    map = createMap($("map"), {
      offlineCredit: t(state.lang, "map_offline"),
      routeLabel: t(state.lang, "route"),
      positionLabel: t(state.lang, "current_position"),
    });
  }
  map.setRoute(data.route || []);
  map.setPosition(data.position);
  map.fit();
  renderMapCaption(data);
}

function renderMapCaption(data) {
  const key = data.delivered ? "map_delivered_position" : "map_last_position";
  text(
    "map-caption",
    data.position
      ? t(state.lang, key, { time: formatTime(state.lang, data.position.time) })
      : t(state.lang, "map_no_position"),
  );
}

// --- chart -------------------------------------------------------------------------------------

function chartDescription(data) {
  // The words say what the API measured over every reading (temperature_range), never what the
  // thinned points would give.
  const lang = state.lang;
  const range = data.temperature_range;
  const band = data.condition ? data.condition.band : null;
  if (!range) return t(lang, "chart_empty");
  const last = data.condition && data.condition.last ? data.condition.last.temperature_c : null;
  const parts = [
    t(lang, "chart_summary", {
      count: range.readings,
      start: formatTime(lang, range.first_at),
      end: formatTime(lang, range.last_at),
      min: formatTemperature(lang, range.min.temperature_c),
      min_time: formatTime(lang, range.min.time),
      max: formatTemperature(lang, range.max.temperature_c),
      max_time: formatTime(lang, range.max.time),
      last: formatTemperature(lang, last),
    }),
  ];
  parts.push(
    band
      ? t(lang, "chart_band_text", {
          min: formatTemperature(lang, band.min_c),
          max: formatTemperature(lang, band.max_c),
        })
      : t(lang, "chart_no_band"),
  );
  const spans = data.excursions || [];
  if (spans.length) parts.push(t(lang, spans.length === 1 ? "chart_excursion" : "chart_excursions", { n: spans.length }));
  if (data.temperature_bucket_s) {
    parts.push(t(lang, "chart_thinned", { minutes: Math.round(data.temperature_bucket_s / 60) }));
  }
  return parts.join(" ");
}

function spanTitle(span) {
  const lang = state.lang;
  const end = span.ended_at ? formatTime(lang, span.ended_at, false) : t(lang, "chart_span_ongoing");
  return t(lang, "chart_span", { start: formatTime(lang, span.started_at, false), end });
}

function renderChart(data) {
  const lang = state.lang;
  const points = data.temperatures || [];
  const band = data.condition ? data.condition.band : null;
  const description = chartDescription(data);
  drawTemperatureChart($("chart"), points, band, {
    title: t(lang, "chart_label"),
    description,
    formatTime: (date) => formatTime(lang, date.toISOString(), false),
    formatTemp: (v) => `${Math.round(v * 10) / 10}°`,
    spans: data.excursions || [],
    spanTitle,
  });
  text("chart-summary", description);
  renderChartTable(data);
}

function cell(tag, value) {
  const node = document.createElement(tag);
  node.textContent = value;
  if (tag === "th") node.scope = "col";
  return node;
}

function renderChartTable(data) {
  const lang = state.lang;
  const points = data.temperatures || [];
  const range = data.temperature_range;
  const parcels = new Set(points.map((p) => p.parcel_id).filter(Boolean));
  const withParcel = parcels.size > 1;
  const head = document.createElement("tr");
  head.append(cell("th", t(lang, "col_time")));
  if (withParcel) head.append(cell("th", t(lang, "col_parcel")));
  head.append(cell("th", t(lang, "col_temperature")));
  $("chart-head").replaceChildren(head);
  const caption = [];
  if (range) {
    caption.push(
      t(lang, "chart_table_range", {
        min: formatTemperature(lang, range.min.temperature_c),
        min_time: formatTime(lang, range.min.time),
        max: formatTemperature(lang, range.max.temperature_c),
        max_time: formatTime(lang, range.max.time),
      }),
    );
  }
  caption.push(
    data.temperature_bucket_s
      ? t(lang, "chart_table_thinned", { minutes: Math.round(data.temperature_bucket_s / 60) })
      : t(lang, "chart_table_raw"),
  );
  text("chart-table-caption", caption.join(" "));
  const rows = points
    .slice(-200)
    .reverse()
    .map((p) => {
      const row = document.createElement("tr");
      row.append(cell("td", formatTime(lang, p.time)));
      if (withParcel) row.append(cell("td", p.parcel_id || ""));
      row.append(cell("td", formatTemperature(lang, p.temperature_c)));
      return row;
    });
  $("chart-rows").replaceChildren(...rows);
}

// --- timeline ----------------------------------------------------------------------------------

function eventText(event) {
  const lang = state.lang;
  const peak = event.peak !== null && event.peak !== undefined ? formatTemperature(lang, event.peak) : "";
  const kind = event.kind || "";
  if (event.type === "alert_started") {
    if (kind.includes("excursion") || kind.includes("temperature")) return t(lang, "event_excursion_started", { peak });
    if (kind.includes("shock")) return t(lang, "event_shock");
    if (kind.includes("door")) return t(lang, "event_door");
    return t(lang, "event_generic", { kind });
  }
  if (event.type === "alert_ended") {
    if (kind.includes("excursion") || kind.includes("temperature")) return t(lang, "event_excursion_ended");
    return null;
  }
  if (event.type === "zone_left" && event.zone_kind === "origin") {
    return t(lang, "event_left_origin", { place: event.zone || "" });
  }
  if (event.type === "zone_entered" && event.zone_kind === "destination") {
    return t(lang, "event_near_destination", { place: event.zone || "" });
  }
  if (event.type === "custody_assigned") return t(lang, "event_custody_assigned");
  if (event.type === "custody_released") {
    return t(lang, event.end_reason === "delivered" ? "event_custody_delivered" : "event_custody_released");
  }
  if (event.type === "exception_opened") return t(lang, "event_exception");
  if (event.type === "exception_resolved") return t(lang, "event_exception_resolved");
  return null;
}

function renderTimeline(data) {
  const lang = state.lang;
  const entries = [];
  for (const c of data.checkpoints || []) {
    entries.push({
      time: c.time,
      what: statusLabel(lang, c.status, c.label),
      where: c.location,
      message: c.message,
      tone: c.status === "Exception" || c.status === "AttemptFail" ? "alert" : c.status === "Delivered" ? "good" : "",
    });
  }
  for (const e of data.events || []) {
    const what = eventText(e);
    if (what) {
      const good = e.type === "alert_ended" || e.type === "exception_resolved";
      const neutral = e.type.startsWith("custody_");
      entries.push({ time: e.time, what, tone: neutral ? "" : good ? "good" : "alert" });
    }
  }
  entries.sort((a, b) => new Date(b.time) - new Date(a.time));
  const list = $("timeline");
  if (!entries.length) {
    const empty = document.createElement("li");
    empty.textContent = t(lang, "timeline_empty");
    list.replaceChildren(empty);
    return;
  }
  list.replaceChildren(
    ...entries.map((entry, index) => {
      const item = document.createElement("li");
      if (index === 0) {
        item.classList.add("current");
        item.setAttribute("aria-current", "step");
      }
      if (entry.tone) item.classList.add(entry.tone);
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = entry.what;
      const when = document.createElement("time");
      when.className = "when";
      when.dateTime = entry.time;
      when.textContent = formatTime(lang, entry.time);
      item.append(what, when);
      for (const key of ["where", "message"]) {
        if (entry[key]) {
          const extra = document.createElement("span");
          extra.className = key;
          extra.textContent = entry[key];
          item.append(extra);
        }
      }
      return item;
    }),
  );
}

// --- live --------------------------------------------------------------------------------------

function renderLive() {
  const live = $("live");
  if (state.ended) {
    live.className = "live";
    live.textContent = t(state.lang, "live_ended");
    return;
  }
  live.className = `live${state.live ? " on" : ""}`;
  const parts = [t(state.lang, state.live ? "live" : "live_off")];
  if (state.updatedAt) parts.push(t(state.lang, "updated", { time: formatTime(state.lang, state.updatedAt, false) }));
  live.textContent = parts.join(" · ");
}

function scheduleRefetch() {
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(load, 300);
}

function scheduleRedraw() {
  clearTimeout(redrawTimer);
  redrawTimer = setTimeout(() => state.data && renderChart(state.data), 150);
}

function parse(message) {
  try {
    return JSON.parse(message.data);
  } catch {
    console.error("live: an event that is not JSON", message.data);
    return null;
  }
}

// Delivered: the story ends, nothing the vehicle measures afterwards is the shopper's.
function endLive() {
  state.ended = true;
  state.live = false;
  if (source) source.close();
  source = null;
}

function connect(url) {
  source = new EventSource(url);
  source.addEventListener("open", () => {
    state.live = true;
    renderLive();
  });
  source.addEventListener("error", () => {
    state.live = false; // EventSource reconnects by itself, with Last-Event-ID
    renderLive();
  });
  source.addEventListener("reading", (message) => {
    const reading = parse(message);
    if (!reading || !state.data || state.ended) return;
    // One point per parcel the reading watched, as the API gives them; the raw range follows.
    const parcels = reading.parcel_ids && reading.parcel_ids.length ? reading.parcel_ids : [null];
    const added = parcels.map((parcel) => ({ time: reading.time, temperature_c: reading.temperature_c, parcel_id: parcel }));
    state.data.temperatures = [...(state.data.temperatures || []), ...added];
    for (const point of added) state.data.temperature_range = extendRange(state.data.temperature_range, point);
    const condition = state.data.condition || {};
    if (reading.temperature_c !== null && (!condition.last || reading.time >= condition.last.time)) {
      condition.last = { time: reading.time, temperature_c: reading.temperature_c };
      state.data.condition = condition;
      renderCondition(condition);
    }
    state.updatedAt = new Date().toISOString();
    renderLive();
    scheduleRedraw();
  });
  source.addEventListener("position", (message) => {
    const position = parse(message);
    if (!position || !state.data || !map || state.ended) return;
    state.data.route = [...(state.data.route || []), position];
    if (!state.data.position || position.time >= state.data.position.time) state.data.position = position;
    map.addPoint(position);
    map.setPosition(state.data.position);
    map.fit();
    renderMapCaption(state.data);
    state.updatedAt = new Date().toISOString();
    renderLive();
  });
  // A new checkpoint or alert changes the status, the ETA and the condition: read them again.
  source.addEventListener("status", scheduleRefetch);
  source.addEventListener("alert", scheduleRefetch);
  source.addEventListener("condition", scheduleRefetch);
}

// --- loading -----------------------------------------------------------------------------------

function renderAll() {
  translateStatic();
  const data = state.data;
  if (!data) return;
  renderBrand(data.brand);
  renderStatus(data);
  renderMap(data);
  renderChart(data);
  renderTimeline(data);
  renderLive();
  notify.update(state.lang, Boolean(data.delivered));
}

async function load() {
  try {
    const response = await fetch(api, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.status === 404) {
      location.reload(); // the link expired or was revoked meanwhile: the server shows its 404 page
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const first = state.data === null;
    state.data = await response.json();
    state.updatedAt = new Date().toISOString();
    $("error").hidden = true;
    if (state.data.delivered) endLive();
    renderAll();
    if (first && !state.ended) connect(state.data.live_url || `${api}/live`);
    if (first) notify.load();
  } catch (error) {
    console.error(error);
    $("error").hidden = false;
    text("error", t(state.lang, "error"));
    setTimeout(load, 10_000);
  }
}

for (const button of $("lang-switch").querySelectorAll("button")) {
  button.addEventListener("click", () => {
    if (!LANGUAGES.includes(button.dataset.lang)) return;
    state.lang = button.dataset.lang;
    rememberLanguage(state.lang);
    renderAll();
  });
}
let width = window.innerWidth;
window.addEventListener("resize", () => {
  if (window.innerWidth === width) return;
  width = window.innerWidth;
  scheduleRedraw();
  if (map) map.invalidate();
});
translateStatic();
load();
