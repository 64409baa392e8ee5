// The exception queue (filters, SLA ages, live) and one exception's workflow page.
import { SEVERITY_TONE, STATE_TONE, duration, h, when } from "./dom.js";
import { api, authHeaders, flash } from "./ops_api.js";
import { tr, word } from "./ops_i18n.js";
import { streamEvents } from "./sse.js";

const STATES = ["open", "acknowledged", "investigating", "resolved"];
const SEVERITIES = ["critical", "warning", "info"];
// The kinds of exception the rule runner opens (ingest/alert_sink.py EXCEPTION_KIND; a test
// fails when they drift apart).
export const EXCEPTION_KINDS = ["temperature", "shock", "humidity"];
const RESOLUTIONS = ["accepted_with_deviation", "quarantined", "destroyed", "reshipped", "refunded"];
const filters = { state: "active", severity: "", kind: "", assignee: "", tracking_number: "", breached: false };

function badge(tone, text) {
  return h(`span.badge.${tone}`, {}, text);
}

function sla(item, now) {
  // Ages move on between refreshes: computed from the API's times and this clock. The age counts
  // from the excursion's start (the first alert's started_at), the SLA from the opening.
  const start = new Date(item.started_at || item.opened_at).getTime();
  const end = item.resolved_at ? new Date(item.resolved_at).getTime() : now;
  const age = (end - start) / 1000;
  if (item.acknowledged_at || item.state === "resolved") {
    return { age, text: item.sla_breached ? tr("acknowledged_late") : tr("sla_met"), tone: item.sla_breached ? "warn" : "ok" };
  }
  const left = (new Date(item.sla_due_at).getTime() - now) / 1000;
  return left < 0
    ? { age, text: tr("breached_ago", { time: duration(-left) }), tone: "bad" }
    : { age, text: tr("time_left", { time: duration(left) }), tone: left < item.sla_s / 4 ? "warn" : "info" };
}

function queueQuery() {
  const query = new URLSearchParams({ limit: "200", order: "oldest" });
  const states = filters.state === "active" ? STATES.slice(0, 3) : filters.state ? [filters.state] : [];
  for (const state of states) query.append("state", state);
  if (filters.severity) query.append("severity", filters.severity);
  if (filters.kind) query.append("kind", filters.kind);
  if (filters.assignee.trim()) query.set("assignee", filters.assignee.trim());
  if (filters.tracking_number.trim()) query.set("tracking_number", filters.tracking_number.trim());
  if (filters.breached) query.set("sla_breached", "true");
  return `/v1/exceptions?${query}`;
}

function select(id, label, value, options, onchange) {
  return h(
    "div.field",
    {},
    h("label", { for: id }, label),
    h(
      "select",
      { id, onchange: (event) => onchange(event.target.value) },
      options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
    ),
  );
}

function input(id, label, value, onchange, attributes = {}) {
  return h(
    "div.field",
    {},
    h("label", { for: id }, label),
    h("input", { id, value, onchange: (event) => onchange(event.target.value), ...attributes }),
  );
}

export function queueView(view) {
  let items = [];
  let timer = null;
  const status = h("span.live", { role: "status" }, "");
  const body = h("tbody");
  const count = h("p.muted", { "aria-live": "polite" });
  const refresh = () => load();
  const form = h(
    "form.filters",
    { "aria-label": tr("filters"), onsubmit: (event) => (event.preventDefault(), refresh()) },
    select(
      "f-state",
      tr("state"),
      filters.state,
      [["active", tr("not_resolved")], ["", tr("any")], ...STATES.map((s) => [s, word("state", s)])],
      (v) => ((filters.state = v), refresh()),
    ),
    select(
      "f-severity",
      tr("severity"),
      filters.severity,
      [["", tr("any")], ...SEVERITIES.map((s) => [s, word("severity", s)])],
      (v) => ((filters.severity = v), refresh()),
    ),
    select(
      "f-kind",
      tr("kind"),
      filters.kind,
      [["", tr("any")], ...EXCEPTION_KINDS.map((k) => [k, word("kind", k)])],
      (v) => ((filters.kind = v), refresh()),
    ),
    input("f-assignee", tr("assignee"), filters.assignee, (v) => ((filters.assignee = v), refresh())),
    input("f-tn", tr("tracking_number"), filters.tracking_number, (v) => ((filters.tracking_number = v), refresh())),
    h(
      "div.field.check",
      {},
      h("input", {
        id: "f-breached",
        type: "checkbox",
        checked: filters.breached,
        onchange: (event) => ((filters.breached = event.target.checked), refresh()),
      }),
      h("label", { for: "f-breached" }, tr("breached_only")),
    ),
  );
  view.append(
    h(
      "section.card",
      { "aria-labelledby": "queue-title" },
      h("div.section-head", {}, h("h1", { id: "queue-title" }, tr("queue_title")), status),
      form,
      count,
      h(
        "div.table-wrap",
        {},
        h(
          "table.queue",
          {},
          h("caption.visually-hidden", {}, tr("queue_caption")),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["col_number", "severity", "col_exception", "col_shipment", "state", "assignee", "col_age", "col_sla"].map((c) =>
                h("th", { scope: "col", title: c === "col_age" ? tr("age_title") : null }, tr(c)),
              ),
            ),
          ),
          body,
        ),
      ),
    ),
  );

  function draw() {
    const now = Date.now();
    body.replaceChildren(
      ...items.map((item) => {
        const s = sla(item, now);
        return h(
          "tr",
          { "data-exception": item.exception_id },
          h("td", { "data-label": tr("col_number") }, String(item.exception_id)),
          h("td", { "data-label": tr("severity") }, badge(SEVERITY_TONE[item.severity] || "info", word("severity", item.severity))),
          h("td.title", { "data-label": tr("col_exception") }, h("div", {}, h("a", { href: `#/exception/${item.exception_id}` }, item.title), h("span.sub", {}, word("kind", item.kind)))),
          h("td", { "data-label": tr("col_shipment") }, h("a", { href: `#/shipment/${encodeURIComponent(item.tracking_number)}` }, item.tracking_number)),
          h("td", { "data-label": tr("state") }, badge(STATE_TONE[item.state] || "info", word("state", item.state))),
          h("td", { "data-label": tr("assignee") }, item.assignee || "–"),
          h("td.num", { "data-label": tr("col_age") }, duration(s.age)),
          h("td", { "data-label": tr("col_sla") }, badge(s.tone, s.text)),
        );
      }),
    );
    count.textContent = items.length ? (items.length > 1 ? tr("exceptions_count", { n: items.length }) : tr("exception_count_one")) : tr("no_exception_match");
  }

  async function load() {
    try {
      const page = await api(queueQuery());
      items = page.items;
      draw();
    } catch (error) {
      if (error.status !== 401) flash(tr("queue_failed", { message: error.message }), "bad");
    }
  }

  let polling = null;
  const stream = streamEvents("/v1/exceptions/live", authHeaders, {
    onEvent: () => {
      clearTimeout(timer);
      timer = setTimeout(load, 250);
    },
    onState: (connected) => {
      status.className = `live${connected ? " on" : ""}`;
      status.textContent = connected ? tr("live") : tr("reconnecting");
    },
    onFatal: () => {
      // No live stream on this server: poll instead.
      status.textContent = tr("polling");
      polling = setInterval(load, 15_000);
    },
  });
  const ages = setInterval(draw, 30_000);
  load();
  return () => {
    stream.stop();
    clearInterval(ages);
    clearInterval(polling);
    clearTimeout(timer);
  };
}

// --- one exception -----------------------------------------------------------------------------

function actionForm(title, fields, submitText, onsubmit, id) {
  return h(
    "form.action",
    {
      "aria-labelledby": `${id}-title`,
      id,
      onsubmit: async (event) => {
        event.preventDefault();
        const button = event.target.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          await onsubmit(new FormData(event.target));
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h3", { id: `${id}-title` }, title),
    fields,
    h("button.button", { type: "submit" }, submitText),
  );
}

export function exceptionView(view, id) {
  let stopped = false;
  async function change(path, body, done) {
    try {
      await api(`/v1/exceptions/${id}/${path}`, { method: "POST", body });
      if (!stopped) await render();
      flash(done);
    } catch (error) {
      if (error.status !== 401) flash(error.message, "bad");
    }
  }

  async function render() {
    let detail;
    try {
      detail = await api(`/v1/exceptions/${id}`);
    } catch (error) {
      if (error.status !== 401) view.replaceChildren(h("section.card", {}, h("h1", {}, tr("exception_n", { id })), h("p.form-error", { role: "alert" }, error.message)));
      return;
    }
    if (stopped) return;
    const s = sla(detail, Date.now());
    const final = detail.state === "resolved";
    const actions = [];
    if (!final) {
      if (detail.state === "open") {
        actions.push(
          actionForm(tr("acknowledge"), [h("label", { for: "ack-reason" }, tr("note_optional")), h("input", { id: "ack-reason", name: "reason" })], tr("acknowledge"), (form) =>
            change("acknowledge", form.get("reason") ? { reason: form.get("reason") } : undefined, tr("acknowledged")), "act-ack"),
        );
      }
      if (detail.state === "acknowledged") {
        actions.push(
          actionForm(tr("investigate"), [h("label", { for: "inv-reason" }, tr("note_optional")), h("input", { id: "inv-reason", name: "reason" })], tr("start_investigating"), (form) =>
            change("investigate", form.get("reason") ? { reason: form.get("reason") } : undefined, tr("investigating")), "act-investigate"),
        );
      }
      actions.push(
        actionForm(
          tr("assign"),
          [h("label", { for: "assignee" }, tr("assignee_empty")), h("input", { id: "assignee", name: "assignee", value: detail.assignee || "", autocomplete: "off" })],
          tr("assign"),
          (form) => change("assign", { assignee: form.get("assignee").trim() || null }, tr("assignment_saved")),
          "act-assign",
        ),
        actionForm(
          tr("comment"),
          [h("label", { for: "comment" }, tr("comment")), h("textarea", { id: "comment", name: "text", required: true, rows: 3 })],
          tr("add_comment"),
          (form) => change("comments", { text: form.get("text") }, tr("comment_added")),
          "act-comment",
        ),
        actionForm(
          tr("resolve"),
          [
            h("label", { for: "resolution" }, tr("resolution")),
            h("select", { id: "resolution", name: "resolution", required: true }, h("option", { value: "" }, tr("choose")), RESOLUTIONS.map((v) => h("option", { value: v }, word("res", v)))),
            h("label", { for: "resolve-reason" }, tr("resolve_reason")),
            h("textarea", { id: "resolve-reason", name: "reason", required: true, rows: 3 }),
          ],
          tr("resolve"),
          (form) => change("resolve", { resolution: form.get("resolution"), reason: form.get("reason") }, tr("resolved")),
          "act-resolve",
        ),
      );
    }
    const chain = detail.chain_intact
      ? badge("ok", tr("chain_intact"))
      : badge("bad", tr("chain_broken", { seq: detail.first_broken_seq }));
    // replaceChildren() writes a null as the text "null": only nodes go in.
    const sections = [
      h("p.crumbs", {}, h("a", { href: "#/queue" }, tr("back_queue"))),
      h(
        "section.card",
        { "aria-labelledby": "exc-title" },
        h("div.section-head", {}, h("h1", { id: "exc-title" }, `#${detail.exception_id} ${detail.title}`), badge(STATE_TONE[detail.state], word("state", detail.state))),
        h(
          "dl.facts",
          {},
          h("dt", {}, tr("shipment")),
          h("dd", {}, h("a", { href: `#/shipment/${encodeURIComponent(detail.tracking_number)}` }, detail.tracking_number)),
          h("dt", {}, tr("kind")),
          h("dd", {}, word("kind", detail.kind)),
          h("dt", {}, tr("severity")),
          h("dd", {}, badge(SEVERITY_TONE[detail.severity], word("severity", detail.severity))),
          detail.started_at ? [h("dt", {}, tr("excursion_started")), h("dd", { id: "exc-started" }, `${when(detail.started_at)} (${tr("ago", { time: duration(s.age) })})`)] : [],
          h("dt", {}, tr("opened")),
          h("dd", {}, detail.started_at ? when(detail.opened_at) : `${when(detail.opened_at)} (${tr("ago", { time: duration(s.age) })})`),
          h("dt", {}, tr("col_sla")),
          h("dd", {}, badge(s.tone, s.text)),
          h("dt", {}, tr("assignee")),
          h("dd", { id: "exc-assignee" }, detail.assignee || tr("nobody")),
          detail.resolution ? [h("dt", {}, tr("resolution")), h("dd", { id: "exc-resolution" }, word("res", detail.resolution))] : [],
        ),
      ),
      final ? null : h("section.card.actions", { "aria-label": tr("actions") }, actions),
      h(
        "section.card",
        { "aria-labelledby": "alerts-title" },
        h("h2", { id: "alerts-title" }, tr("alerts_n", { n: detail.alerts.length })),
        alertsTable(detail.alerts),
      ),
      h(
        "section.card",
        { "aria-labelledby": "comments-title" },
        h("h2", { id: "comments-title" }, tr("comments_n", { n: detail.comments.length })),
        detail.comments.length
          ? h("ul.comments", {}, detail.comments.map((c) => h("li", {}, h("strong", {}, c.author), ` · ${when(c.at)}`, h("p", {}, c.text))))
          : h("p.muted", {}, tr("no_comment")),
      ),
      h(
        "section.card",
        { "aria-labelledby": "audit-title" },
        h("div.section-head", {}, h("h2", { id: "audit-title" }, tr("audit_trail")), chain),
        auditTable(detail.audit),
      ),
    ];
    view.replaceChildren(...sections.filter(Boolean));
  }
  render();
  return () => {
    stopped = true;
  };
}

export function alertsTable(alerts) {
  if (!alerts.length) return h("p.muted", {}, tr("no_alert"));
  return h(
    "div.table-wrap",
    {},
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["col_rule", "severity", "state", "col_subject", "col_started", "col_ended", "col_peak", "col_limit"].map((c) => h("th", { scope: "col" }, tr(c))))),
      h(
        "tbody",
        {},
        alerts.map((a) =>
          h(
            "tr",
            {},
            h("td", {}, a.rule),
            h("td", {}, badge(SEVERITY_TONE[a.severity] || "info", word("severity", a.severity))),
            h("td", {}, a.state),
            h("td", {}, `${a.subject_kind} ${a.subject_id || ""}`),
            h("td", {}, when(a.started_at)),
            h("td", {}, a.ended_at ? when(a.ended_at) : tr("ongoing")),
            h("td.num", {}, a.peak ?? "–"),
            h("td.num", {}, a.limit_value ?? "–"),
          ),
        ),
      ),
    ),
  );
}

function auditTable(entries) {
  return h(
    "div.table-wrap",
    {},
    h(
      "table.audit",
      {},
      h("thead", {}, h("tr", {}, ["col_number", "col_when", "col_who", "col_what", "col_why", "col_hash"].map((c) => h("th", { scope: "col" }, tr(c))))),
      h(
        "tbody",
        {},
        entries.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, String(e.seq)),
            h("td", {}, when(e.at)),
            h("td", {}, e.actor),
            h("td", {}, e.action, Object.keys(e.detail || {}).length ? h("span.sub", {}, JSON.stringify(e.detail)) : null),
            h("td", {}, e.reason || "–"),
            h("td", {}, h("code", { title: e.hash }, e.hash.slice(0, 12))),
          ),
        ),
      ),
    ),
  );
}
