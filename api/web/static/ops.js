// The ops console: log in (password or API key), then the exception queue, an exception's
// workflow, a shipment's detail and the fleet. The bearer token stays in sessionStorage.
import { h } from "./dom.js";
import { ApiFailure, TOKEN_KEY, flash, onSignedOut, token } from "./ops_api.js";
import { exceptionView, queueView } from "./ops_exceptions.js";
import { fleetView, shipmentView } from "./ops_shipment.js";

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
      fail(failure.status === 401 || failure.status === 403 ? "That key is not valid." : failure.message);
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
          fail(response.status === 404 ? "Password sign-in is not available: use an API key." : "Wrong user name or password.");
          return;
        }
        await accept((await response.json()).access_token);
      },
    },
    h("h2", { id: "login-password-title" }, "Sign in"),
    h("label", { for: "username" }, "User name"),
    h("input", { id: "username", name: "username", autocomplete: "username", required: true }),
    h("label", { for: "password" }, "Password"),
    h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("button.button", { type: "submit" }, "Sign in"),
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
    h("h2", { id: "login-key-title" }, "Or use an API key"),
    h("label", { for: "apikey" }, "API key"),
    h("input", { id: "apikey", name: "apikey", type: "password", autocomplete: "off", required: true }),
    h("button.button.secondary", { type: "submit" }, "Use this key"),
  );
  view.replaceChildren(
    h(
      "section.card.login",
      {},
      h("h1", {}, "Operations console"),
      h("p.muted", {}, "Exceptions, shipments and the fleet. The session ends when this tab closes."),
      error,
      h("div.login-forms", {}, password, key),
    ),
  );
  $("username").focus();
}

const ROUTES = [
  [/^#\/queue$/, queueView, "queue"],
  [/^#\/exception\/(\d+)$/, exceptionView, "queue"],
  [/^#\/shipment\/(.+)$/, shipmentView, "queue"],
  [/^#\/fleet$/, fleetView, "fleet"],
];

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

onSignedOut(() => logout("Your session ended: please sign in again."));
$("logout").addEventListener("click", () => logout("Signed out."));
window.addEventListener("hashchange", route);
route();
