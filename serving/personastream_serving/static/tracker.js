// personastream event tracker: no dependencies, no build step. Events wait in localStorage (they
// survive a reload or an offline period) and go to the collector (NiFi's ingest endpoint) as JSON
// arrays: with fetch on a timer, when a batch is full and when the browser is back online; with
// navigator.sendBeacon when the page is hidden. A failed send is retried with exponential backoff
// and jitter and keeps each event's event_id, the key that deduplicates a retry downstream.
"use strict";

// Answers a retry cannot change: NiFi dead-lettered the events (invalid, or the body too large).
const NOT_RETRYABLE = new Set([400, 413]);
const KEEPALIVE_MAX_BYTES = 65536; // browsers refuse a keepalive fetch with a larger body

class PersonastreamTracker {
  static DEFAULTS = {
    maxBatchSize: 25, // events per request
    flushIntervalMs: 1000, // longest wait of a queued event while the collector answers
    maxQueueLength: 1000, // beyond it the oldest events are dropped
    retryBaseMs: 1000, // first retry after 0.5-1 x this, doubling per failure ...
    retryCapMs: 60000, // ... up to 0.5-1 x this
    requestTimeoutMs: 10000, // a send unanswered by then counts as failed
    schemaVersion: undefined, // filled into events without one
    storageKey: "personastream.tracker.queue",
  };

  constructor(collectorUrl, options = {}) {
    this.url = collectorUrl;
    this.options = { ...PersonastreamTracker.DEFAULTS, ...options };
    // sent: delivered (2xx) or handed to sendBeacon; retried: sends of events whose last send
    // failed; dropped: answered 400/413, or pushed out of a full queue; queued: stored now.
    this.counters = { sent: 0, retried: 0, dropped: 0, queued: this.load().length };
    this.inflight = new Set(); // event_ids of the fetch under way
    this.failed = new Set(); // event_ids whose last send failed: the next one is a retry
    this.failures = 0; // consecutive failed sends
    this.backingOff = false; // after a failed send, until its retry timer fires
    this.timer = null;
    addEventListener("online", () => {
      this.backingOff = false;
      this.flush();
    });
    addEventListener("pagehide", () => this.beacon());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.beacon();
    });
    this.flush(); // what an earlier page left
  }

  // Queue one event, filling event_id, client_ts and schema_version when absent; returns it.
  track(event) {
    const queued = { ...event };
    queued.event_id ??= crypto.randomUUID();
    queued.client_ts ??= new Date().toISOString();
    queued.schema_version ??= this.options.schemaVersion;
    const queue = [...this.load(), queued];
    const excess = queue.length - this.options.maxQueueLength;
    if (excess > 0) {
      queue.splice(0, excess);
      this.counters.dropped += excess;
    }
    this.save(queue);
    this.next();
    return queued;
  }

  // Send the oldest batch with fetch; resolves once answered. A no-op while offline, while a
  // send is under way or backing off, and with nothing queued.
  async flush() {
    if (!navigator.onLine || this.inflight.size || this.backingOff) return;
    const batch = this.load().slice(0, this.options.maxBatchSize);
    if (!batch.length) return;
    clearTimeout(this.timer);
    this.timer = null;
    const ids = batch.map((e) => e.event_id);
    ids.forEach((id) => this.inflight.add(id));
    this.counters.retried += ids.filter((id) => this.failed.has(id)).length;
    const outcome = await this.post(JSON.stringify(batch));
    this.inflight.clear();
    if (outcome === "retry") {
      ids.forEach((id) => this.failed.add(id));
      this.failures += 1;
      const { retryBaseMs, retryCapMs } = this.options;
      const backoffMs = Math.min(retryCapMs, retryBaseMs * 2 ** (this.failures - 1));
      this.backingOff = true;
      this.arm(backoffMs * (0.5 + Math.random() / 2));
      return;
    }
    this.failures = 0;
    ids.forEach((id) => this.failed.delete(id));
    this.remove(new Set(ids));
    this.counters[outcome] += ids.length;
    this.next();
  }

  // The page is being hidden (maybe for good): hand the queue to sendBeacon, which outlives the
  // page. Offline, or while the collector fails, the queue stays stored for the next page; so do
  // the events of a fetch under way (keepalive: it outlives the page too, and what it does not
  // confirm the next page sends again).
  beacon() {
    if (!navigator.onLine || this.backingOff) return;
    const queue = this.load().filter((e) => !this.inflight.has(e.event_id));
    const handed = new Set();
    for (let i = 0; i < queue.length; i += this.options.maxBatchSize) {
      const batch = queue.slice(i, i + this.options.maxBatchSize);
      if (!navigator.sendBeacon(this.url, JSON.stringify(batch))) break; // over the quota
      batch.forEach((e) => handed.add(e.event_id));
    }
    this.remove(handed);
    this.counters.sent += handed.size;
  }

  // "sent" (2xx), "dropped" (400, 413) or "retry". text/plain keeps the request "simple" (no
  // CORS preflight); reading the answer needs the collector to allow this origin
  // (Access-Control-Allow-Origin): without it every answer looks like a network error, and each
  // batch would be sent again and again.
  async post(body) {
    try {
      const response = await fetch(this.url, {
        method: "POST", body, headers: { "Content-Type": "text/plain" },
        keepalive: new Blob([body]).size <= KEEPALIVE_MAX_BYTES,
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
      if (response.ok) return "sent";
      return NOT_RETRYABLE.has(response.status) ? "dropped" : "retry";
    } catch {
      return "retry"; // network error, timeout, or an answer this origin may not read
    }
  }

  // After the queue grew or shrank: send now if a batch is full, else within the interval.
  next() {
    const queued = this.counters.queued - this.inflight.size;
    if (queued >= this.options.maxBatchSize) this.flush();
    else if (queued > 0 && !this.timer) this.arm(this.options.flushIntervalMs);
  }

  arm(delayMs) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.backingOff = false;
      this.flush();
    }, delayMs);
  }

  // The stored queue is the one source of truth, so tabs of one site share it.
  load() {
    return JSON.parse(localStorage.getItem(this.options.storageKey) ?? "[]");
  }

  save(queue) {
    localStorage.setItem(this.options.storageKey, JSON.stringify(queue));
    this.counters.queued = queue.length;
  }

  remove(ids) {
    if (ids.size) this.save(this.load().filter((e) => !ids.has(e.event_id)));
  }
}
