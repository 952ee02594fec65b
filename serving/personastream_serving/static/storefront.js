// Storefront demo: every view and click goes through the tracker (tracker.js) to NiFi's ingest
// endpoint (the pipeline's real front door); recommendations and trends come from the
// personalization API.
"use strict";

const config = fetch("/storefront/config.json").then((r) => r.json());
// A page tracks about one event, so waiting for more would only delay the shelves that follow
// it: 100 ms joins the events of one interaction; a backlog (offline, retries) still goes in
// batches.
const tracker = config.then((cfg) => new PersonastreamTracker(cfg.ingest_url, {
  schemaVersion: cfg.schema_version, flushIntervalMs: 100 }));

function anonymousId() {
  let id = localStorage.getItem("personastream.anonymous_id");
  if (!id) {
    id = "web-" + crypto.randomUUID();
    localStorage.setItem("personastream.anonymous_id", id);
  }
  return id;
}

async function track(eventType, fields) {
  const event = (await tracker).track({
    event_type: eventType, user_id: null, anonymous_id: anonymousId(), ...fields });
  document.body.dataset.lastEvent = event.event_id;
}

async function api(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function card(item) {
  const a = document.createElement("a");
  a.className = "card";
  a.href = `/items/${item.item_id}`;
  a.dataset.itemId = item.item_id;
  a.dataset.category = item.category;
  a.innerHTML = `<div class="thumb ${item.category}">${item.category}</div>
    <div class="name"></div><div class="meta"></div>`;
  a.querySelector(".name").textContent = item.name;
  a.querySelector(".meta").textContent = `${item.brand} · €${item.price.toFixed(2)}`;
  a.addEventListener("click", () => track("page_view", {
    page_url: a.href, page_title: item.name, referrer: location.href }));
  return a;
}

function render(id, items, provenance) {
  const shelf = document.getElementById(id);
  shelf.replaceChildren(...items.map(card));
  shelf.dataset.categories = items.map((i) => i.category).join(",");
  if (provenance) {
    shelf.dataset.profileEvents = provenance.profile_events ?? 0;
    document.getElementById(`${id}-provenance`).textContent =
      `ranking ${provenance.ranking_version} · trends ${provenance.trends_detector_version ?? "-"}` +
      ` · profile ${provenance.profile}`;
  }
}

async function refreshHome() {
  const user = encodeURIComponent(anonymousId());
  const [recs, trending] = await Promise.all([
    api(`/v1/recommendations?anonymous_id=${user}&k=8`), api("/v1/trending?k=8")]);
  render("recommended", recs.items, recs.provenance);
  trackRecommendations(recs);
  render("trending", trending.items, trending.provenance);
}

// Experiment exposure: an impression whenever the recommendations shown change (not on every
// refresh), naming the experiment and variant the API answered under; a click on one of them
// with its position. The shelf keeps the experiment and variant in data attributes.
let shownRecommendations = "";

function trackRecommendations(recs) {
  const shelf = document.getElementById("recommended");
  const experiment = recs.experiment ?? null;
  shelf.dataset.experiment = experiment ? experiment.name : "";
  shelf.dataset.variant = experiment ? experiment.variant : "";
  const itemIds = recs.items.map((i) => i.item_id);
  const shown = JSON.stringify([itemIds, shelf.dataset.experiment, shelf.dataset.variant]);
  if (shown === shownRecommendations) return;
  shownRecommendations = shown;
  track("impression", { placement: "recommendations", item_ids: itemIds, promotion: null,
    experiment: experiment && experiment.name, variant: experiment && experiment.variant,
    page_url: location.href });
}

function trackRecommendationClicks() {
  const shelf = document.getElementById("recommended");
  shelf.addEventListener("click", (event) => {
    const card = event.target.closest("a.card");
    if (!card) return;
    track("click", { placement: "recommendations", item_id: card.dataset.itemId,
      position: [...shelf.children].indexOf(card), promotion: null,
      experiment: shelf.dataset.experiment || null, variant: shelf.dataset.variant || null,
      page_url: location.href });
  });
}

// Promotion banner: the shopper's best active offer with a banner or discount action (highest
// priority first, as the API answers), polled every 500 ms on every page. An impression the first
// time an offer is shown on this device (shown offer ids kept in localStorage), a click when the
// banner is clicked; a banner's link is followed once the click is queued. Both name the offer
// (offer_id, impression and click schemas 1-1-0): attribute_experiments reads it to put them
// under the offer's promotions experiment.
const BANNER_KINDS = new Set(["banner", "discount"]);
const BANNER_SCHEMA_VERSION = "1-1-0";
const BANNER_POLL_MS = 500;
const SHOWN_OFFERS_KEY = "personastream.shown_offers";
const SHOWN_OFFERS_KEPT = 50;

async function refreshPromotion() {
  // the API's key of an anonymous shopper (personastream_contracts.identity.user_key)
  const user = encodeURIComponent(`anon:${anonymousId()}`);
  const { offers } = await api(`/v1/users/${user}/offers`);
  const offer = offers.find((o) => BANNER_KINDS.has(o.action.kind));
  const banner = document.getElementById("promotion");
  if (!offer) {
    banner.hidden = true;
    banner.dataset.offerId = "";
    return;
  }
  if (banner.dataset.offerId === offer.offer_id) return;
  banner.querySelector(".text").textContent = offer.action.text;
  banner.querySelector(".code").textContent = offer.action.code ?? "";
  Object.assign(banner.dataset, { offerId: offer.offer_id, promotion: offer.promotion,
    itemId: offer.item_id ?? "", link: offer.action.link ?? "", shownAt: Date.now() });
  banner.hidden = false;
  const shown = JSON.parse(localStorage.getItem(SHOWN_OFFERS_KEY) ?? "[]");
  if (shown.includes(offer.offer_id)) return;
  localStorage.setItem(SHOWN_OFFERS_KEY,
    JSON.stringify([...shown, offer.offer_id].slice(-SHOWN_OFFERS_KEPT)));
  await track("impression", { schema_version: BANNER_SCHEMA_VERSION,
    placement: "promotion_banner", item_ids: offer.item_id ? [offer.item_id] : [],
    promotion: offer.promotion, offer_id: offer.offer_id, experiment: null, variant: null,
    page_url: location.href });
}

function showPromotions() {
  const banner = document.getElementById("promotion");
  banner.addEventListener("click", async () => {
    const { offerId, itemId, promotion, link } = banner.dataset;
    await track("click", { schema_version: BANNER_SCHEMA_VERSION,
      placement: "promotion_banner", item_id: itemId || null, position: null, promotion,
      offer_id: offerId || null, experiment: null, variant: null, page_url: location.href });
    if (link) location.href = link;
  });
  refreshPromotion().catch(console.error);
  setInterval(() => refreshPromotion().catch(console.error), BANNER_POLL_MS);
}

async function home() {
  await track("page_view", { page_url: location.href, page_title: "home" });
  const catalogue = await api("/v1/catalogue");
  render("catalogue", catalogue.items.slice(0, 24));
  trackRecommendationClicks();
  showPromotions();
  await refreshHome();
  setInterval(() => refreshHome().catch(console.error), 1000);
}

async function product() {
  const itemId = location.pathname.split("/").pop();
  const catalogue = await api("/v1/catalogue");
  const item = catalogue.items.find((i) => i.item_id === itemId);
  document.getElementById("title").textContent = item.name;
  document.getElementById("details").textContent =
    `${item.category} · ${item.brand} · €${item.price.toFixed(2)}`;
  await track("product_view", { item_id: item.item_id, category: item.category,
                                brand: item.brand, price: item.price });
  showPromotions();
  document.getElementById("add").addEventListener("click", () => track("add_to_cart", {
    item_id: item.item_id, category: item.category, brand: item.brand, quantity: 1,
    price: item.price }));
  const similar = await api(`/v1/items/${itemId}/similar?k=6`);
  render("similar", similar.items, similar.provenance);
  document.body.dataset.ready = "true";
}
