// The shopper chooses how to be told (issue 17): per channel (e-mail, SMS) an address and the
// kinds of message; unsubscribe. Reads and writes /v1/track/{token}/subscriptions.
import { h } from "./dom.js";
import { t } from "./i18n.js";

const INPUT = { email: { type: "email", autocomplete: "email" }, sms: { type: "tel", autocomplete: "tel" } };

export function createNotify(root, api, getLang) {
  const state = { data: null, message: null, error: false, hidden: false, lang: null };

  async function call(method, path, body) {
    const response = await fetch(`${api}/subscriptions${path}`, {
      method,
      headers: { Accept: "application/json", ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: "no-store",
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
    return data;
  }

  function kindsBox(medium, lang, checked) {
    return h(
      "fieldset.notify-kinds",
      {},
      h("legend", { text: t(lang, "notify_kinds") }),
      ...state.data.kinds.map((kind) =>
        h(
          "label",
          {},
          h("input", {
            type: "checkbox",
            name: `${medium}-kind`,
            value: kind,
            checked: checked.includes(kind),
            "data-kind": kind,
          }),
          " ",
          t(lang, `notify_kind_${kind}`),
        ),
      ),
    );
  }

  function row(medium, lang) {
    const current = state.data.items.find((item) => item.medium === medium);
    const label = t(lang, `notify_${medium}`);
    if (current && current.active) {
      return h(
        "div.notify-row",
        { "data-medium": medium },
        h("p.notify-current", { id: `notify-${medium}-current`, text: t(lang, "notify_subscribed", { channel: label, address: current.address }) }),
        h("button", {
          type: "button",
          id: `notify-${medium}-off`,
          text: t(lang, "notify_unsubscribe"),
          onclick: () => act(() => call("DELETE", `/${medium}`), "notify_done_off"),
        }),
      );
    }
    const inputId = `notify-${medium}-address`;
    const form = h(
      "form.notify-row",
      { "data-medium": medium, id: `notify-${medium}-form` },
      h("label", { for: inputId, text: label }),
      h("input", { id: inputId, name: "address", required: true, ...INPUT[medium], placeholder: t(lang, `notify_${medium}_placeholder`) }),
      kindsBox(medium, lang, state.data.kinds),
      h("button", { type: "submit", id: `notify-${medium}-on`, text: t(lang, "notify_subscribe") }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const address = form.querySelector("input[name=address]").value;
      const kinds = [...form.querySelectorAll("input[data-kind]:checked")].map((box) => box.value);
      if (!kinds.length) {
        state.message = t(getLang(), "notify_no_kind");
        state.error = true;
        render();
        return;
      }
      act(() => call("PUT", `/${medium}`, { address, kinds, language: getLang() }), "notify_done_on");
    });
    return form;
  }

  async function act(request, doneKey) {
    try {
      state.data = await request();
      state.message = t(getLang(), doneKey);
      state.error = false;
    } catch (error) {
      state.message = error.message;
      state.error = true;
    }
    render();
  }

  function render() {
    const lang = getLang();
    const usable = state.data && state.data.mediums.length && !state.hidden;
    root.hidden = !usable;
    if (!usable) return;
    root.replaceChildren(
      h("h2", { id: "notify-title", text: t(lang, "notify_title") }),
      h("p.caption", { text: t(lang, "notify_intro") }),
      ...state.data.mediums.map((medium) => row(medium, lang)),
      h(`p.notify-status${state.error ? ".error" : ""}`, { id: "notify-status", role: "status", text: state.message || "" }),
    );
  }

  return {
    async load() {
      try {
        state.data = await call("GET", "");
      } catch (error) {
        console.error(error);
        state.data = null;
      }
      render();
    },
    /** Re-drawn only when the language or the end of the story changes: a live update of the
     * page must not wipe what the shopper is typing. */
    update(lang, ended) {
      if (state.lang === lang && state.hidden === ended) return;
      state.lang = lang;
      state.hidden = ended;
      render();
    },
    render,
  };
}
