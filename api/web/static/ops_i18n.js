// Every string of the ops console, in English and French (as i18n.js is for the shopper's page).
// The language: the one chosen with the EN/FR switch (kept in localStorage), else the server's
// choice from Accept-Language (the html element's lang), else English.
import { EN } from "./ops_strings_en.js";
import { FR } from "./ops_strings_fr.js";

export const OPS_LANGUAGES = ["en", "fr"];
const STORAGE_KEY = "coldtrail.ops.lang";

export const OPS_STRINGS = { en: EN, fr: FR };

export function opsLang() {
  let chosen = null;
  try {
    chosen = localStorage.getItem(STORAGE_KEY);
  } catch {
    chosen = null;
  }
  if (chosen && OPS_LANGUAGES.includes(chosen)) return chosen;
  const fromServer = document.documentElement.lang;
  return OPS_LANGUAGES.includes(fromServer) ? fromServer : "en";
}

export function setOpsLang(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // storage disabled: the choice lasts until the page is reloaded
  }
  document.documentElement.lang = lang;
}

/** tr("key", {name: value}): the string in the console's language, {name} filled in. */
export function tr(key, values = {}) {
  const table = OPS_STRINGS[opsLang()] || OPS_STRINGS.en;
  const text = key in table ? table[key] : OPS_STRINGS.en[key];
  if (typeof text !== "string") return key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : ""));
}

/** A word the API returns (a state, a severity, a kind), translated when the table knows it. */
export function word(prefix, value) {
  if (!value) return "";
  const key = `${prefix}_${value}`;
  const table = OPS_STRINGS[opsLang()] || OPS_STRINGS.en;
  return key in table ? table[key] : value;
}

export function locale() {
  return opsLang() === "fr" ? "fr-FR" : "en-GB";
}
