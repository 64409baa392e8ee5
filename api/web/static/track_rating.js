// The shopper's one-tap rating once the parcel is delivered (CSAT, one of the merchant's KPIs):
// five buttons, PUT /v1/track/{token}/rating; a second tap replaces the first.
const STRINGS = {
  en: {
    question: "How was your delivery?",
    score: "{n} out of 5",
    thanks: "Thank you: you rated this delivery {n} out of 5.",
    failed: "Your rating could not be saved. Please try again.",
  },
  fr: {
    question: "Comment s'est passée votre livraison ?",
    score: "{n} sur 5",
    thanks: "Merci : vous avez noté cette livraison {n} sur 5.",
    failed: "Votre note n'a pas pu être enregistrée. Veuillez réessayer.",
  },
};
const FACES = ["😞", "🙁", "😐", "🙂", "😀"];
let current = null;
let asked = false;

function say(lang, key, n) {
  return (STRINGS[lang] || STRINGS.en)[key].replace("{n}", String(n));
}

function draw(lang) {
  const form = document.getElementById("rating");
  document.getElementById("rating-question").textContent = say(lang, "question");
  const buttons = form.querySelectorAll("button[data-score]");
  buttons.forEach((button, i) => {
    button.textContent = FACES[i];
    button.setAttribute("aria-label", say(lang, "score", i + 1));
    button.setAttribute("aria-pressed", String(current === i + 1));
  });
  const thanks = document.getElementById("rating-thanks");
  thanks.hidden = current === null;
  if (current !== null) thanks.textContent = say(lang, "thanks", current);
}

/** Shows the rating once ``data`` says the shipment is delivered; ``api`` is /v1/track/{token}. */
export function renderRating(data, lang, api) {
  const form = document.getElementById("rating");
  const delivered = Boolean(data && (data.delivered || (data.status && data.status.code === "Delivered")));
  form.hidden = !delivered;
  if (!delivered) return;
  if (!asked) {
    asked = true;
    fetch(`${api}/rating`, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then((response) => (response.ok ? response.json() : null))
      .then((rating) => {
        if (rating && rating.score) current = rating.score;
        draw(form.dataset.lang || lang);
      })
      .catch(() => {});
    form.querySelectorAll("button[data-score]").forEach((button) => {
      button.addEventListener("click", async () => {
        const score = Number(button.dataset.score);
        const response = await fetch(`${api}/rating`, {
          method: "PUT",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ score }),
        });
        const thanks = document.getElementById("rating-thanks");
        if (!response.ok) {
          thanks.hidden = false;
          thanks.textContent = say(form.dataset.lang || "en", "failed");
          return;
        }
        current = score;
        draw(form.dataset.lang || "en");
      });
    });
  }
  form.dataset.lang = lang;
  draw(lang);
}
