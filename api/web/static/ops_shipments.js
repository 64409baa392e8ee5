// The shipments: a search (tracking number, shopper, origin, destination) and the list, newest
// first, each row opening the shipment's page.
import { h, when } from "./dom.js";
import { api, flash } from "./ops_api.js";
import { tr } from "./ops_i18n.js";

const PAGE = 50;
let lastSearch = "";

export function shipmentsView(view) {
  let items = [];
  let total = 0;
  let stopped = false;
  const body = h("tbody");
  const count = h("p.muted", { "aria-live": "polite" });
  const more = h("button.button.secondary", { type: "button", hidden: true, onclick: () => load(true) }, tr("more"));
  const search = h("input", { id: "ship-search", type: "search", value: lastSearch, placeholder: tr("search_hint"), autocomplete: "off" });
  const form = h(
    "form.filters",
    {
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        lastSearch = search.value.trim();
        load(false);
      },
    },
    h("div.field", {}, h("label", { for: "ship-search" }, tr("search")), search),
    h("div.field", {}, h("button.button", { type: "submit" }, tr("search_button"))),
  );
  view.append(
    h(
      "section.card",
      { "aria-labelledby": "shipments-title" },
      h("h1", { id: "shipments-title" }, tr("shipments_title")),
      form,
      count,
      h(
        "div.table-wrap",
        {},
        h(
          "table.shipments",
          {},
          h("caption.visually-hidden", {}, tr("shipments_caption")),
          h("thead", {}, h("tr", {}, ["tracking_number", "col_shopper", "col_route", "col_promised", "col_created", "col_parcels"].map((c) => h("th", { scope: "col" }, tr(c))))),
          body,
        ),
      ),
      more,
    ),
  );

  function draw() {
    body.replaceChildren(
      ...items.map((s) =>
        h(
          "tr",
          { "data-shipment": s.tracking_number },
          h("td", { "data-label": tr("tracking_number") }, h("a", { href: `#/shipment/${encodeURIComponent(s.tracking_number)}` }, s.tracking_number)),
          h("td", { "data-label": tr("col_shopper") }, s.shopper_name || "–"),
          h("td", { "data-label": tr("col_route") }, `${s.origin || "?"} → ${s.destination || "?"}`),
          h("td", { "data-label": tr("col_promised") }, s.promised_at ? when(s.promised_at) : "–"),
          h("td", { "data-label": tr("col_created") }, when(s.created_at)),
          h("td.num", { "data-label": tr("col_parcels") }, String(s.parcels)),
        ),
      ),
    );
    count.textContent = items.length ? tr("shipments_count", { shown: items.length, total }) : tr("no_shipment_match");
    more.hidden = items.length >= total;
  }

  async function load(append) {
    const query = new URLSearchParams({ limit: String(PAGE), offset: String(append ? items.length : 0) });
    if (lastSearch) query.set("q", lastSearch);
    try {
      const page = await api(`/v1/shipments?${query}`);
      if (stopped) return;
      items = append ? [...items, ...page.items] : page.items;
      total = page.total;
      draw();
    } catch (error) {
      if (error.status !== 401) flash(tr("shipments_failed", { message: error.message }), "bad");
    }
  }

  load(false);
  search.focus();
  return () => {
    stopped = true;
  };
}
