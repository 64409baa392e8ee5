// The map: Leaflet over the offline Natural Earth basemap (world-atlas, converted with
// topojson-client), or over raster tiles when the server configures a tile URL.
import * as L from "./vendor/leaflet/leaflet.esm.js";

let basemap = null;

function meta(name) {
  const node = document.querySelector(`meta[name="${name}"]`);
  return node ? node.content : "";
}

async function countries() {
  if (!basemap) {
    basemap = fetch("/static/vendor/world-atlas/countries-50m.json")
      .then((response) => {
        if (!response.ok) throw new Error(`basemap: HTTP ${response.status}`);
        return response.json();
      })
      .then((topology) => window.topojson.feature(topology, topology.objects.countries));
  }
  return basemap;
}

/** A map in `element` (which has an aria-label). Returns {setRoute, setPosition, fit, addPoints}. */
export function createMap(element, { offlineCredit, routeLabel, positionLabel }) {
  const map = L.map(element, {
    zoomControl: true,
    attributionControl: true,
    keyboard: true,
    worldCopyJump: true,
    zoomSnap: 0.5,
  }).setView([46.6, 2.4], 5);
  L.control.scale({ imperial: false }).addTo(map);
  const tiles = meta("coldtrail-tiles");
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: meta("coldtrail-attribution") }).addTo(map);
  } else {
    element.classList.add("map-offline");
    map.attributionControl.addAttribution(offlineCredit);
    countries()
      .then((geojson) => {
        L.geoJSON(geojson, {
          interactive: false,
          style: { color: "#8a9a8f", weight: 0.8, fillColor: "#eef1ea", fillOpacity: 1 },
        })
          .addTo(map)
          .bringToBack();
      })
      .catch((error) => console.error(error));
  }
  const route = L.polyline([], { color: "#1d5fbf", weight: 4, opacity: 0.9, className: "route-line" }).addTo(map);
  const start = L.circleMarker([0, 0], {
    radius: 5,
    color: "#1d5fbf",
    weight: 2,
    fillColor: "#ffffff",
    fillOpacity: 1,
  });
  const here = L.circleMarker([0, 0], {
    radius: 9,
    color: "#ffffff",
    weight: 3,
    fillColor: "#d9480f",
    fillOpacity: 1,
    className: "position-marker",
  });
  if (positionLabel) here.bindTooltip(plain(positionLabel));
  if (routeLabel) route.bindTooltip(plain(routeLabel), { sticky: true });
  let fitted = false;

  function fit(force = false) {
    if (fitted && !force) return;
    const points = route.getLatLngs();
    if (points.length > 1) {
      map.fitBounds(route.getBounds(), { padding: [28, 28], maxZoom: 13 });
      fitted = true;
    } else if (map.hasLayer(here)) {
      map.setView(here.getLatLng(), 12);
      fitted = true;
    }
  }

  return {
    map,
    setRoute(points) {
      const latlngs = points.map((p) => [p.lat, p.lon]);
      route.setLatLngs(latlngs);
      if (latlngs.length) start.setLatLng(latlngs[0]).addTo(map);
    },
    addPoint(point) {
      route.addLatLng([point.lat, point.lon]);
      if (route.getLatLngs().length === 1) start.setLatLng([point.lat, point.lon]).addTo(map);
    },
    setPosition(point) {
      if (!point) return;
      here.setLatLng([point.lat, point.lon]).addTo(map);
      here.bringToFront();
    },
    fit,
    invalidate() {
      map.invalidateSize();
    },
  };
}

// Leaflet sets a string tooltip as innerHTML: labels (e.g. a vehicle's name) go in as text.
function plain(label) {
  const node = document.createElement("span");
  node.textContent = String(label);
  return node;
}

/** A fleet map: one labelled marker per vehicle. */
export function createFleetMap(element, { offlineCredit }) {
  const handle = createMap(element, { offlineCredit, routeLabel: "", positionLabel: "" });
  const layer = L.layerGroup().addTo(handle.map);
  return {
    ...handle,
    setVehicles(vehicles) {
      layer.clearLayers();
      const bounds = [];
      for (const vehicle of vehicles) {
        if (!vehicle.position) continue;
        const latlng = [vehicle.position.lat, vehicle.position.lon];
        bounds.push(latlng);
        // Filled by the goods' stored condition; a gateway not heard from lately gets a dark ring.
        const fill = { out_of_spec: "#c92a2a", excursion_within_allowance: "#e67700" }[vehicle.condition] || "#2b8a3e";
        L.circleMarker(latlng, {
          radius: 8,
          color: vehicle.healthy ? "#ffffff" : "#343a40",
          weight: vehicle.healthy ? 2 : 4,
          fillColor: fill,
          fillOpacity: 1,
        })
          .bindTooltip(plain(vehicle.label), { permanent: true, direction: "right", offset: [8, 0] })
          .addTo(layer);
      }
      if (bounds.length) handle.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 12 });
    },
  };
}
