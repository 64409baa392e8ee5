// The exception queue (filters, SLA ages, live) and one exception's workflow page.
import { SEVERITY_TONE, STATE_TONE, duration, h, when } from "./dom.js";
import { api, authHeaders, flash } from "./ops_api.js";
import { streamEvents } from "./sse.js";

const STATES = ["open", "acknowledged", "investigating", "resolved"];
const SEVERITIES = ["critical", "warning", "info"];
const RESOLUTIONS = [
  ["accepted_with_deviation", "Accepted with deviation"],
  ["quarantined", "Quarantined"],
  ["destroyed", "Destroyed"],
  ["reshipped", "Reshipped"],
  ["refunded", "Refunded"],
];
const filters = { state: "active", severity: "", kind: "", assignee: "", tracking_number: "", breached: false };

function badge(tone, text) {
  return h(`span.badge.${tone}`, {}, text);
}

function sla(item, now) {
  // Ages move on between refreshes: computed from the API's times and this clock.
  const opened = new Date(item.opened_at).getTime();
  const end = item.resolved_at ? new Date(item.resolved_at).getTime() : now;
  const age = (end - opened) / 1000;
  if (item.acknowledged_at || item.state === "resolved") {
    return { age, text: item.sla_breached ? "Acknowledged late" : "Met", tone: item.sla_breached ? "warn" : "ok" };
  }
  const left = (new Date(item.sla_due_at).getTime() - now) / 1000;
  return left < 0
    ? { age, text: `Breached ${duration(-left)} ago`, tone: "bad" }
    : { age, text: `${duration(left)} left`, tone: left < item.sla_s / 4 ? "warn" : "info" };
}

function queueQuery() {
  const query = new URLSearchParams({ limit: "200", order: "oldest" });
  const states = filters.state === "active" ? STATES.slice(0, 3) : filters.state ? [filters.state] : [];
  for (const state of states) query.append("state", state);
  if (filters.severity) query.append("severity", filters.severity);
  if (filters.kind.trim()) query.append("kind", filters.kind.trim());
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
    { "aria-label": "Filters", onsubmit: (event) => (event.preventDefault(), refresh()) },
    select(
      "f-state",
      "State",
      filters.state,
      [["active", "Not resolved"], ["", "Any"], ...STATES.map((s) => [s, s])],
      (v) => ((filters.state = v), refresh()),
    ),
    select(
      "f-severity",
      "Severity",
      filters.severity,
      [["", "Any"], ...SEVERITIES.map((s) => [s, s])],
      (v) => ((filters.severity = v), refresh()),
    ),
    input("f-kind", "Kind", filters.kind, (v) => ((filters.kind = v), refresh()), { placeholder: "excursion" }),
    input("f-assignee", "Assignee", filters.assignee, (v) => ((filters.assignee = v), refresh())),
    input("f-tn", "Tracking number", filters.tracking_number, (v) => ((filters.tracking_number = v), refresh())),
    h(
      "div.field.check",
      {},
      h("input", {
        id: "f-breached",
        type: "checkbox",
        checked: filters.breached,
        onchange: (event) => ((filters.breached = event.target.checked), refresh()),
      }),
      h("label", { for: "f-breached" }, "SLA breached only"),
    ),
  );
  view.append(
    h(
      "section.card",
      { "aria-labelledby": "queue-title" },
      h("div.section-head", {}, h("h1", { id: "queue-title" }, "Exception queue"), status),
      form,
      count,
      h(
        "div.table-wrap",
        {},
        h(
          "table.queue",
          {},
          h("caption.visually-hidden", {}, "Exceptions, oldest first"),
          h(
            "thead",
            {},
            h("tr", {}, ["#", "Severity", "Exception", "Shipment", "State", "Assignee", "Age", "SLA"].map((c) => h("th", { scope: "col" }, c))),
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
          h("td", { "data-label": "#" }, String(item.exception_id)),
          h("td", { "data-label": "Severity" }, badge(SEVERITY_TONE[item.severity] || "info", item.severity)),
          h("td.title", { "data-label": "Exception" }, h("div", {}, h("a", { href: `#/exception/${item.exception_id}` }, item.title), h("span.sub", {}, item.kind))),
          h("td", { "data-label": "Shipment" }, h("a", { href: `#/shipment/${encodeURIComponent(item.tracking_number)}` }, item.tracking_number)),
          h("td", { "data-label": "State" }, badge(STATE_TONE[item.state] || "info", item.state)),
          h("td", { "data-label": "Assignee" }, item.assignee || "–"),
          h("td.num", { "data-label": "Age" }, duration(s.age)),
          h("td", { "data-label": "SLA" }, badge(s.tone, s.text)),
        );
      }),
    );
    count.textContent = items.length ? `${items.length} exception${items.length > 1 ? "s" : ""}` : "No exception matches these filters.";
  }

  async function load() {
    try {
      const page = await api(queueQuery());
      items = page.items;
      draw();
    } catch (error) {
      if (error.status !== 401) flash(`Could not load the queue: ${error.message}`, "bad");
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
      status.textContent = connected ? "Live" : "Reconnecting…";
    },
    onFatal: () => {
      // No live stream on this server: poll instead.
      status.textContent = "Refreshing every 15 s";
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
      if (error.status !== 401) view.replaceChildren(h("section.card", {}, h("h1", {}, `Exception ${id}`), h("p.form-error", { role: "alert" }, error.message)));
      return;
    }
    if (stopped) return;
    const s = sla(detail, Date.now());
    const final = detail.state === "resolved";
    const actions = [];
    if (!final) {
      if (detail.state === "open") {
        actions.push(
          actionForm("Acknowledge", [h("label", { for: "ack-reason" }, "Note (optional)"), h("input", { id: "ack-reason", name: "reason" })], "Acknowledge", (form) =>
            change("acknowledge", form.get("reason") ? { reason: form.get("reason") } : undefined, "Acknowledged."), "act-ack"),
        );
      }
      if (detail.state === "acknowledged") {
        actions.push(
          actionForm("Investigate", [h("label", { for: "inv-reason" }, "Note (optional)"), h("input", { id: "inv-reason", name: "reason" })], "Start investigating", (form) =>
            change("investigate", form.get("reason") ? { reason: form.get("reason") } : undefined, "Investigating."), "act-investigate"),
        );
      }
      actions.push(
        actionForm(
          "Assign",
          [h("label", { for: "assignee" }, "Assignee (empty: nobody)"), h("input", { id: "assignee", name: "assignee", value: detail.assignee || "", autocomplete: "off" })],
          "Assign",
          (form) => change("assign", { assignee: form.get("assignee").trim() || null }, "Assignment saved."),
          "act-assign",
        ),
        actionForm(
          "Comment",
          [h("label", { for: "comment" }, "Comment"), h("textarea", { id: "comment", name: "text", required: true, rows: 3 })],
          "Add comment",
          (form) => change("comments", { text: form.get("text") }, "Comment added."),
          "act-comment",
        ),
        actionForm(
          "Resolve",
          [
            h("label", { for: "resolution" }, "Resolution"),
            h("select", { id: "resolution", name: "resolution", required: true }, h("option", { value: "" }, "Choose…"), RESOLUTIONS.map(([v, text]) => h("option", { value: v }, text))),
            h("label", { for: "resolve-reason" }, "Reason (kept in the audit trail)"),
            h("textarea", { id: "resolve-reason", name: "reason", required: true, rows: 3 }),
          ],
          "Resolve",
          (form) => change("resolve", { resolution: form.get("resolution"), reason: form.get("reason") }, "Resolved."),
          "act-resolve",
        ),
      );
    }
    const chain = detail.chain_intact
      ? badge("ok", "Audit chain intact")
      : badge("bad", `Audit chain broken at entry ${detail.first_broken_seq}`);
    view.replaceChildren(
      h("p.crumbs", {}, h("a", { href: "#/queue" }, "← Exception queue")),
      h(
        "section.card",
        { "aria-labelledby": "exc-title" },
        h("div.section-head", {}, h("h1", { id: "exc-title" }, `#${detail.exception_id} ${detail.title}`), badge(STATE_TONE[detail.state], detail.state)),
        h(
          "dl.facts",
          {},
          h("dt", {}, "Shipment"),
          h("dd", {}, h("a", { href: `#/shipment/${encodeURIComponent(detail.tracking_number)}` }, detail.tracking_number)),
          h("dt", {}, "Kind"),
          h("dd", {}, detail.kind),
          h("dt", {}, "Severity"),
          h("dd", {}, badge(SEVERITY_TONE[detail.severity], detail.severity)),
          h("dt", {}, "Opened"),
          h("dd", {}, `${when(detail.opened_at)} (${duration(s.age)} ago)`),
          h("dt", {}, "SLA"),
          h("dd", {}, badge(s.tone, s.text)),
          h("dt", {}, "Assignee"),
          h("dd", { id: "exc-assignee" }, detail.assignee || "nobody"),
          detail.resolution ? [h("dt", {}, "Resolution"), h("dd", { id: "exc-resolution" }, detail.resolution.replaceAll("_", " "))] : [],
        ),
      ),
      final ? null : h("section.card.actions", { "aria-label": "Actions" }, actions),
      h(
        "section.card",
        { "aria-labelledby": "alerts-title" },
        h("h2", { id: "alerts-title" }, `Alerts (${detail.alerts.length})`),
        alertsTable(detail.alerts),
      ),
      h(
        "section.card",
        { "aria-labelledby": "comments-title" },
        h("h2", { id: "comments-title" }, `Comments (${detail.comments.length})`),
        detail.comments.length
          ? h("ul.comments", {}, detail.comments.map((c) => h("li", {}, h("strong", {}, c.author), ` · ${when(c.at)}`, h("p", {}, c.text))))
          : h("p.muted", {}, "No comment yet."),
      ),
      h(
        "section.card",
        { "aria-labelledby": "audit-title" },
        h("div.section-head", {}, h("h2", { id: "audit-title" }, "Audit trail"), chain),
        auditTable(detail.audit),
      ),
    );
  }
  render();
  return () => {
    stopped = true;
  };
}

export function alertsTable(alerts) {
  if (!alerts.length) return h("p.muted", {}, "No alert.");
  return h(
    "div.table-wrap",
    {},
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["Rule", "Severity", "State", "Subject", "Started", "Ended", "Peak", "Limit"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        alerts.map((a) =>
          h(
            "tr",
            {},
            h("td", {}, a.rule),
            h("td", {}, badge(SEVERITY_TONE[a.severity] || "info", a.severity)),
            h("td", {}, a.state),
            h("td", {}, `${a.subject_kind} ${a.subject_id || ""}`),
            h("td", {}, when(a.started_at)),
            h("td", {}, a.ended_at ? when(a.ended_at) : "ongoing"),
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
      h("thead", {}, h("tr", {}, ["#", "When", "Who", "What", "Why", "Hash"].map((c) => h("th", { scope: "col" }, c)))),
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
