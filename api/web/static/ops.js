// The ops console: log in (password or API key), then the exception queue, an exception's
// workflow, the shipments (search, list, one shipment), the fleet and the KPIs, in English or
// French (ops_i18n.js). The bearer token stays in sessionStorage.
import { h } from "./dom.js";
import { ApiFailure, TOKEN_KEY, flash, onSignedOut, token } from "./ops_api.js";
import { exceptionView, queueView } from "./ops_exceptions.js";
import { opsLang, setOpsLang, tr } from "./ops_i18n.js";
import { kpiView } from "./ops_kpis.js";
import { fleetView, shipmentView } from "./ops_shipment.js";
import { shipmentsView } from "./ops_shipments.js";

const $ = (id) => document.getElementById(id);
let cleanup = null;

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(`${TOKEN_KEY}.who`);
  if (message) flash(message, "warn");
  location.hash = "#/login";
  route();
}

async function whoAmI(value) {
  // /v1/auth/me names the user; with an API key from before user accounts, any ops read works.
  const headers = { Authorization: `Bearer ${value}`, Accept: "application/json" };
  const me = await fetch("/v1/auth/me", { headers, cache: "no-store" });
  if (me.ok) {
    const body = await me.json();
    return `${body.name} (${body.role})`;
  }
  if (me.status !== 404) throw new ApiFailure(me.status, `HTTP ${me.status}`);
  const probe = await fetch("/v1/exceptions?limit=1", { headers, cache: "no-store" });
  if (!probe.ok) throw new ApiFailure(probe.status, `HTTP ${probe.status}`);
  return "API key";
}

function loginView(view) {
  const error = h("p.form-error", { role: "alert", hidden: true });
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
  };
  const accept = async (value) => {
    try {
      const who = await whoAmI(value);
      sessionStorage.setItem(TOKEN_KEY, value);
      sessionStorage.setItem(`${TOKEN_KEY}.who`, who);
      if (location.hash === "#/queue") route();
      else location.hash = "#/queue";
    } catch (failure) {
      fail(failure.status === 401 || failure.status === 403 ? tr("key_invalid") : failure.message);
    }
  };
  const password = h(
    "form.login-form",
    {
      "aria-labelledby": "login-password-title",
      onsubmit: async (event) => {
        event.preventDefault();
        const form = new FormData(event.target);
        const response = await fetch("/v1/auth/token", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
          body: new URLSearchParams({ username: form.get("username"), password: form.get("password") }),
        });
        if (!response.ok) {
          fail(response.status === 404 ? tr("password_unavailable") : tr("wrong_password"));
          return;
        }
        await accept((await response.json()).access_token);
      },
    },
    h("h2", { id: "login-password-title" }, tr("login_password_title")),
    h("label", { for: "username" }, tr("user_name")),
    h("input", { id: "username", name: "username", autocomplete: "username", required: true }),
    h("label", { for: "password" }, tr("password")),
    h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("button.button", { type: "submit" }, tr("sign_in")),
  );
  const key = h(
    "form.login-form",
    {
      "aria-labelledby": "login-key-title",
      onsubmit: (event) => {
        event.preventDefault();
        accept(new FormData(event.target).get("apikey").trim());
      },
    },
    h("h2", { id: "login-key-title" }, tr("login_key_title")),
    h("label", { for: "apikey" }, tr("api_key")),
    h("input", { id: "apikey", name: "apikey", type: "password", autocomplete: "off", required: true }),
    h("button.button.secondary", { type: "submit" }, tr("use_key")),
  );
  view.replaceChildren(
    h(
      "section.card.login",
      {},
      h("h1", {}, tr("login_title")),
      h("p.muted", {}, tr("login_intro")),
      error,
      h("div.login-forms", {}, password, key),
    ),
  );
  $("username").focus();
}

const ROUTES = [
  [/^#\/queue$/, queueView, "queue"],
  [/^#\/exception\/(\d+)$/, exceptionView, "queue"],
  [/^#\/shipments$/, shipmentsView, "shipments"],
  [/^#\/shipment\/(.+)$/, shipmentView, "shipments"],
  [/^#\/fleet$/, fleetView, "fleet"],
  [/^#\/kpis$/, kpiView, "kpis"],
];

function applyLanguage() {
  const lang = opsLang();
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = tr(node.dataset.i18n);
  $("nav").setAttribute("aria-label", tr("nav_sections"));
  $("lang-switch").setAttribute("aria-label", tr("language"));
  for (const button of $("lang-switch").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
}

function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const view = $("view");
  const signedIn = Boolean(token());
  $("nav").hidden = !signedIn;
  $("who").hidden = !signedIn;
  if (!signedIn) {
    loginView(view);
    return;
  }
  $("who-name").textContent = sessionStorage.getItem(`${TOKEN_KEY}.who`) || "";
  const hash = location.hash || "#/queue";
  for (const [pattern, render, section] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      for (const link of document.querySelectorAll("#nav a")) {
        if (link.dataset.section === section) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
      view.replaceChildren();
      cleanup = render(view, ...match.slice(1).map(decodeURIComponent)) || null;
      return;
    }
  }
  location.hash = "#/queue";
}

onSignedOut(() => logout(tr("session_ended")));
$("logout").addEventListener("click", () => logout(tr("signed_out")));
for (const button of $("lang-switch").querySelectorAll("button")) {
  button.addEventListener("click", () => {
    setOpsLang(button.dataset.lang);
    applyLanguage();
    route();
  });
}
window.addEventListener("hashchange", route);
applyLanguage();
route();
