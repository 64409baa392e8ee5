// Every string the pages show, in English and French. Carrier messages are shown as the carrier
// wrote them; everything else comes from here.
export const STRINGS = {
  en: {
    skip: "Skip to the content",
    language: "Language",
    loading: "Loading your parcel…",
    tracking_number: "Tracking number",
    carried_by: "Carried by",
    carrier_page: "follow on the carrier's site",
    basis_carrier: "the carrier's estimate",
    eta: "Expected",
    eta_unknown: "Delivery time not known yet",
    promised: "Promised",
    on_time: "On time",
    trending_late: "Running late: it may arrive after the promised time",
    delivered_at: "Delivered",
    in_spec: "In spec",
    excursion: "Temperature excursion",
    within_allowance: "Brief excursion, within allowance",
    within_allowance_text: "The temperature briefly left the range, within what the product allows.",
    allowance_delay: "Beyond {limit} for {used} min so far; the product allows {allowed} min",
    allowance_budget: "{used} min beyond {limit} over the trip; the product allows {allowed} min",
    arrived_within_allowance:
      "Arrived in spec: a brief excursion stayed within what the product allows.",
    event_left_origin: "Left {place}",
    event_near_destination: "Arriving near {place}",
    no_condition: "No temperature readings yet",
    last_reading: "Last reading {temp} at {time}",
    band: "Allowed range {min} to {max}",
    map_title: "Where it is",
    map_label: "Map of the parcel's route and its current position",
    map_no_position: "No position received yet.",
    map_last_position: "Last position at {time}",
    map_offline: "Basemap © Natural Earth",
    route: "Route travelled",
    current_position: "Current position",
    chart_title: "Temperature",
    chart_label: "Temperature chart",
    chart_summary:
      "{count} readings from {start} to {end}: lowest {min} ({min_time}), highest {max} ({max_time}), latest {last}.",
    chart_no_band: "No allowed range is set for this parcel.",
    chart_band_text: "Allowed range: {min} to {max}.",
    chart_excursion: "1 temperature excursion recorded, shaded on the chart.",
    chart_excursions: "{n} temperature excursions recorded, shaded on the chart.",
    chart_thinned: "The chart shows the lowest and highest reading of every {minutes} minutes.",
    chart_span: "Temperature excursion from {start} to {end}",
    chart_span_ongoing: "now",
    chart_empty: "No temperature readings yet.",
    chart_table: "Show the readings as a table",
    chart_table_range: "Lowest reading {min} ({min_time}), highest {max} ({max_time}).",
    chart_table_raw: "Every reading, newest first.",
    chart_table_thinned: "The lowest and highest reading of every {minutes} minutes, newest first.",
    col_time: "Time",
    col_parcel: "Parcel",
    col_temperature: "Temperature",
    timeline_title: "Journey",
    timeline_empty: "No step recorded yet.",
    live: "Live",
    live_off: "Reconnecting…",
    updated: "Updated {time}",
    error: "This page could not load the tracking data. It will try again.",
    footer: "Cold-chain tracking by coldtrail",
    from_to: "{origin} → {destination}",
    basis_recent_speed: "estimated from the remaining distance and recent speed",
    basis_lane_history: "estimated from past trips on this route",
    basis_recent_speed_lane_history: "estimated from recent speed and past trips on this route",
    basis_at_destination: "at the destination",
    basis_delivered: "delivered",
    event_custody_assigned: "Loaded into a refrigerated vehicle",
    event_custody_released: "Unloaded from the vehicle",
    event_excursion_started: "Temperature left the allowed range (peak {peak})",
    event_excursion_ended: "Temperature back within range",
    event_shock: "A shock was detected",
    event_door: "A door was opened",
    event_generic: "Condition event: {kind}",
    event_exception: "Our team is looking into it",
    event_exception_resolved: "Our team resolved it",
    delivered_line: "Delivered {time}",
    delivered_received_by: "Delivered {time}, received by {name}",
    delivered_where: "at {place}",
    delivered_signed: "Signed: {name}",
    delivered_photo: "Photo of the delivery",
    arrived_in_spec: "Arrived in spec: the temperature stayed within the allowed range.",
    arrived_excursion: "Excursion during transit, see details",
    live_ended: "Delivered: tracking has ended",
    map_delivered_position: "Last position before delivery, {time}",
    event_custody_delivered: "Handed over: tracking ended",
    notify_title: "Stay informed",
    notify_intro: "Get a message at each step of the delivery, on the channel you choose.",
    notify_email: "E-mail",
    notify_sms: "SMS",
    notify_email_placeholder: "name@example.com",
    notify_sms_placeholder: "+33 6 12 34 56 78",
    notify_kinds: "Tell me about",
    notify_kind_progress: "its progress",
    notify_kind_delivery: "its delivery",
    notify_kind_incidents: "delays and incidents",
    notify_subscribe: "Subscribe",
    notify_unsubscribe: "Unsubscribe",
    notify_subscribed: "{channel}: messages go to {address}",
    notify_done_on: "Subscribed: you will be told at the next step.",
    notify_done_off: "Unsubscribed: nothing more will be sent there.",
    notify_no_kind: "Choose at least one kind of message.",
    status: {
      InfoReceived: "Order information received",
      InTransit: "In transit",
      OutForDelivery: "Out for delivery",
      AttemptFail: "Delivery attempt failed",
      Delivered: "Delivered",
      AvailableForPickup: "Available for pickup",
      Exception: "Delivery problem",
      Expired: "Tracking expired",
      Pending: "Waiting for the carrier",
    },
  },
  fr: {
    skip: "Aller au contenu",
    language: "Langue",
    loading: "Chargement de votre colis…",
    tracking_number: "Numéro de suivi",
    carried_by: "Transporté par",
    carrier_page: "suivre sur le site du transporteur",
    basis_carrier: "estimation du transporteur",
    eta: "Livraison prévue",
    eta_unknown: "Heure de livraison pas encore connue",
    promised: "Promis",
    on_time: "À l'heure",
    trending_late: "En retard : il pourrait arriver après l'heure promise",
    delivered_at: "Livré",
    in_spec: "Conforme",
    excursion: "Écart de température",
    within_allowance: "Écart bref, dans la tolérance",
    within_allowance_text:
      "La température est brièvement sortie de la plage, dans la limite tolérée pour ce produit.",
    allowance_delay: "Au-delà de {limit} depuis {used} min ; le produit tolère {allowed} min",
    allowance_budget: "{used} min au-delà de {limit} sur le trajet ; le produit tolère {allowed} min",
    arrived_within_allowance:
      "Arrivé conforme : un bref écart est resté dans la tolérance du produit.",
    event_left_origin: "Parti de {place}",
    event_near_destination: "Arrive près de {place}",
    no_condition: "Pas encore de relevé de température",
    last_reading: "Dernier relevé {temp} à {time}",
    band: "Plage autorisée {min} à {max}",
    map_title: "Où est-il",
    map_label: "Carte du trajet du colis et de sa position actuelle",
    map_no_position: "Aucune position reçue pour l'instant.",
    map_last_position: "Dernière position à {time}",
    map_offline: "Fond de carte © Natural Earth",
    route: "Trajet parcouru",
    current_position: "Position actuelle",
    chart_title: "Température",
    chart_label: "Graphique de température",
    chart_summary:
      "{count} relevés du {start} au {end} : minimum {min} ({min_time}), maximum {max} ({max_time}), dernier {last}.",
    chart_no_band: "Aucune plage autorisée n'est définie pour ce colis.",
    chart_band_text: "Plage autorisée : {min} à {max}.",
    chart_excursion: "1 écart de température enregistré, mis en évidence sur le graphique.",
    chart_excursions: "{n} écarts de température enregistrés, mis en évidence sur le graphique.",
    chart_thinned: "Le graphique montre le relevé le plus bas et le plus haut de chaque tranche de {minutes} minutes.",
    chart_span: "Écart de température de {start} à {end}",
    chart_span_ongoing: "maintenant",
    chart_empty: "Pas encore de relevé de température.",
    chart_table: "Afficher les relevés dans un tableau",
    chart_table_range: "Relevé le plus bas {min} ({min_time}), le plus haut {max} ({max_time}).",
    chart_table_raw: "Tous les relevés, du plus récent au plus ancien.",
    chart_table_thinned:
      "Le relevé le plus bas et le plus haut de chaque tranche de {minutes} minutes, du plus récent au plus ancien.",
    col_time: "Heure",
    col_parcel: "Colis",
    col_temperature: "Température",
    timeline_title: "Parcours",
    timeline_empty: "Aucune étape enregistrée pour l'instant.",
    live: "En direct",
    live_off: "Reconnexion…",
    updated: "Mis à jour à {time}",
    error: "Cette page n'a pas pu charger le suivi. Nouvel essai dans un instant.",
    footer: "Suivi de la chaîne du froid par coldtrail",
    from_to: "{origin} → {destination}",
    basis_recent_speed: "estimée d'après la distance restante et la vitesse récente",
    basis_lane_history: "estimée d'après les trajets passés sur cet itinéraire",
    basis_recent_speed_lane_history: "estimée d'après la vitesse récente et les trajets passés",
    basis_at_destination: "arrivé à destination",
    basis_delivered: "livré",
    event_custody_assigned: "Chargé dans un véhicule réfrigéré",
    event_custody_released: "Déchargé du véhicule",
    event_excursion_started: "La température est sortie de la plage autorisée (pic {peak})",
    event_excursion_ended: "Température revenue dans la plage",
    event_shock: "Un choc a été détecté",
    event_door: "Une porte a été ouverte",
    event_generic: "Événement : {kind}",
    event_exception: "Notre équipe s'en occupe",
    event_exception_resolved: "Notre équipe a résolu le problème",
    delivered_line: "Livré {time}",
    delivered_received_by: "Livré {time}, reçu par {name}",
    delivered_where: "à {place}",
    delivered_signed: "Signé : {name}",
    delivered_photo: "Photo de la livraison",
    arrived_in_spec: "Arrivé conforme : la température est restée dans la plage autorisée.",
    arrived_excursion: "Écart de température pendant le transport, voir le détail",
    live_ended: "Livré : le suivi est terminé",
    map_delivered_position: "Dernière position avant la livraison, {time}",
    event_custody_delivered: "Remis : fin du suivi",
    notify_title: "Restez informé",
    notify_intro: "Recevez un message à chaque étape de la livraison, sur le canal de votre choix.",
    notify_email: "E-mail",
    notify_sms: "SMS",
    notify_email_placeholder: "nom@exemple.fr",
    notify_sms_placeholder: "+33 6 12 34 56 78",
    notify_kinds: "Me prévenir de",
    notify_kind_progress: "son avancement",
    notify_kind_delivery: "sa livraison",
    notify_kind_incidents: "retards et incidents",
    notify_subscribe: "S'abonner",
    notify_unsubscribe: "Se désabonner",
    notify_subscribed: "{channel} : les messages vont à {address}",
    notify_done_on: "Abonné : vous serez prévenu à la prochaine étape.",
    notify_done_off: "Désabonné : plus rien ne sera envoyé à cette adresse.",
    notify_no_kind: "Choisissez au moins un type de message.",
    status: {
      InfoReceived: "Informations de commande reçues",
      InTransit: "En transit",
      OutForDelivery: "En cours de livraison",
      AttemptFail: "Échec de la tentative de livraison",
      Delivered: "Livré",
      AvailableForPickup: "Disponible au point de retrait",
      Exception: "Problème de livraison",
      Expired: "Suivi expiré",
      Pending: "En attente du transporteur",
    },
  },
};

export const LANGUAGES = Object.keys(STRINGS);
const STORAGE_KEY = "coldtrail.lang";

/** The language: the reader's own choice (the switch), else the one the server picked from
 * Accept-Language (the html element's lang). */
export function currentLanguage() {
  let chosen = null;
  try {
    chosen = localStorage.getItem(STORAGE_KEY);
  } catch {
    chosen = null; // storage disabled: the server's choice
  }
  if (chosen && LANGUAGES.includes(chosen)) return chosen;
  const fromServer = document.documentElement.lang;
  return LANGUAGES.includes(fromServer) ? fromServer : "en";
}

export function rememberLanguage(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // storage disabled: the choice lasts until the page is reloaded
  }
}

/** t(lang, "key", {name: value}) with {name} placeholders. */
export function t(lang, key, values = {}) {
  const table = STRINGS[lang] || STRINGS.en;
  const text = key in table ? table[key] : STRINGS.en[key];
  if (typeof text !== "string") return key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : ""));
}

export function statusLabel(lang, code, fallback) {
  const table = (STRINGS[lang] || STRINGS.en).status;
  return table[code] || fallback || code || "";
}

export function formatTime(lang, iso, withDate = true) {
  if (!iso) return "";
  const date = new Date(iso);
  const options = withDate
    ? { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", options).format(date);
}

export function formatTemperature(lang, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const number = new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en-GB", {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  }).format(value);
  return `${number} °C`;
}
