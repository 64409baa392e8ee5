// A shipment's legs in the ops console: our vehicles and carriers in journey order, the carrier
// poller's state, and a form to add a leg (the API checks the carrier's code).
import { h, when } from "./dom.js";
import { api } from "./ops_api.js";

function legLine(leg) {
  if (leg.kind === "vehicle") return `${leg.position}. our vehicle ${leg.vehicle_id || ""}`.trim();
  const state = leg.final_at
    ? `stopped ${when(leg.final_at)} (${leg.final_reason})`
    : leg.last_error
      ? `failing ×${leg.failures}: ${leg.last_error}`
      : leg.last_polled_at
        ? `polled ${when(leg.last_polled_at)}`
        : "not polled yet";
  const eta = leg.carrier_eta ? ` · carrier ETA ${when(leg.carrier_eta)}` : "";
  const status = leg.carrier_status ? ` · ${leg.carrier_status}` : "";
  return `${leg.position}. ${leg.carrier_label} ${leg.carrier_tracking_number}${status}${eta} · ${state}`;
}

export function legsCard(tn) {
  const path = `/v1/shipments/${encodeURIComponent(tn)}/legs`;
  const list = h("ul.plain", { id: "ship-legs" });
  const error = h("p.form-error", { role: "alert", hidden: true });
  const kind = h("select", { name: "kind", "aria-label": "Leg kind" }, h("option", { value: "carrier" }, "carrier"), h("option", { value: "vehicle" }, "our vehicle"));
  const carrier = h("input", { name: "carrier", placeholder: "carrier (colissimo, dhl…)", "aria-label": "Carrier" });
  const number = h("input", { name: "number", placeholder: "carrier or vehicle id", "aria-label": "Tracking number or vehicle" });

  async function load() {
    const legs = await api(path);
    list.replaceChildren(
      ...(legs.items.length
        ? legs.items.map((leg) =>
            h("li", {}, legLine(leg), leg.carrier_url ? [" ", h("a", { href: leg.carrier_url, rel: "noopener noreferrer", target: "_blank" }, "carrier page")] : null),
          )
        : [h("li.muted", {}, "No leg registered.")]),
    );
  }

  async function add(event) {
    event.preventDefault();
    error.hidden = true;
    const body =
      kind.value === "carrier"
        ? { kind: "carrier", carrier: carrier.value.trim(), carrier_tracking_number: number.value.trim() }
        : { kind: "vehicle", vehicle_id: number.value.trim() || undefined };
    try {
      await api(path, { method: "POST", body });
      number.value = "";
      await load();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  }

  load().catch((failure) => {
    list.replaceChildren(h("li.form-error", {}, failure.message));
  });
  return h(
    "section.card",
    { "aria-labelledby": "ship-legs-title" },
    h("h2", { id: "ship-legs-title" }, "Legs"),
    list,
    h("form.inline", { onsubmit: add }, kind, carrier, number, h("button.button", { type: "submit" }, "Add leg")),
    error,
  );
}
