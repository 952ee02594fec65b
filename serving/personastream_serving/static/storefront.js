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
  render("trending", trending.items, trending.provenance);
}

async function home() {
  await track("page_view", { page_url: location.href, page_title: "home" });
  const catalogue = await api("/v1/catalogue");
  render("catalogue", catalogue.items.slice(0, 24));
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
  document.getElementById("add").addEventListener("click", () => track("add_to_cart", {
    item_id: item.item_id, category: item.category, brand: item.brand, quantity: 1,
    price: item.price }));
  const similar = await api(`/v1/items/${itemId}/similar?k=6`);
  render("similar", similar.items, similar.provenance);
  document.body.dataset.ready = "true";
}
