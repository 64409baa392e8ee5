// Copies the browser libraries the pages use from node_modules (installed by `npm ci` from the
// pinned package-lock.json) into api/web/static/vendor/, with their licences. Run by `make assets`;
// the copied files are committed so that running the API needs no npm.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const vendor = join(here, "..", "api", "web", "static", "vendor");

// [package, file in the package, name in vendor/<package>/]
const FILES = [
  ["leaflet", "dist/leaflet-src.esm.js", "leaflet.esm.js"],
  ["leaflet", "dist/leaflet.css", "leaflet.css"],
  ["leaflet", "LICENSE", "LICENSE"],
  ["topojson-client", "dist/topojson-client.min.js", "topojson-client.min.js"],
  ["topojson-client", "LICENSE", "LICENSE"],
  ["world-atlas", "countries-50m.json", "countries-50m.json"],
  ["world-atlas", "LICENSE", "LICENSE"],
];

rmSync(vendor, { recursive: true, force: true });
const versions = {};
for (const [pkg, from, to] of FILES) {
  const target = join(vendor, pkg);
  mkdirSync(target, { recursive: true });
  copyFileSync(join(modules, pkg, from), join(target, to));
  versions[pkg] = JSON.parse(readFileSync(join(modules, pkg, "package.json"), "utf8")).version;
}
writeFileSync(join(vendor, "versions.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(`vendored into ${vendor}:`, versions);
