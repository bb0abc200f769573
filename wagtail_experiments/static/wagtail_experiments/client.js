/*
 * wagtail_experiments headless client: an ES module with no dependencies for browsers,
 * Node 18+ (server side of Next.js, Remix...) and edge workers (Cloudflare Workers).
 *
 * Two halves:
 * - pure bucketing (fnv1a32, hashToUnit, bucketRanges, bucket, matchesTargeting,
 *   deviceClass) that reproduces wagtail_experiments/assignment.py bit for bit, so an edge
 *   worker can route a visitor from the published config without a round trip;
 * - a small HTTP client for the JSON API (assignment, config, events, leads).
 *
 * The server stays the source of truth: it derives each event's variant itself and only
 * counts events of experiments the visitor was actually exposed to.
 */

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const DEFAULT_BASE_URL = "/_experiments/api";
// The events endpoint refuses more than 100 events or 64 KiB per request; browsers also
// cap beacons and keepalive fetches at 64 KiB in flight, so one limit covers both.
const MAX_BATCH_EVENTS = 100;
const MAX_BATCH_BYTES = 64 * 1024;
const MAX_URL_LENGTH = 2000;
const EVENT_FIELDS = ["type", "experiment", "goal", "value", "step", "metadata", "url", "block"];

/**
 * 32-bit FNV-1a over UTF-16 code units, as GrowthBook's JS SDK (and assignment.py) hash.
 *
 * @param {string} text
 * @returns {number} an unsigned 32-bit integer
 */
export const fnv1a32 = (text) => {
  let hval = FNV_OFFSET_BASIS;
  for (let i = 0; i < text.length; i += 1) {
    hval ^= text.charCodeAt(i);
    // Math.imul keeps the product exact in 32 bits; a float multiply would lose low bits.
    hval = Math.imul(hval, FNV_PRIME);
  }
  return hval >>> 0;
};

/**
 * Map `value` to [0, 1) for `seed`, like GrowthBook's hash versions 1 and 2.
 *
 * @param {string} seed the experiment's hash seed
 * @param {string} value the visitor id
 * @param {number} version 2 (default on the server) or 1 (legacy, biased between
 *   experiments that share a seed)
 * @returns {number}
 * @throws {Error} for any other version: guessing would silently re-bucket visitors
 */
export const hashToUnit = (seed, value, version) => {
  if (version === 2) {
    return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
  }
  if (version === 1) {
    return (fnv1a32(value + seed) % 1000) / 1000;
  }
  throw new Error(`unsupported hash version ${JSON.stringify(version)}`);
};

/**
 * GrowthBook's `getBucketRanges`: one `[start, start + coverage * weight)` per variant.
 *
 * The weights must already be normalised (the server publishes them that way). They are
 * used as given rather than divided by their sum again: re-dividing weights that sum to
 * 0.9999999999999999 would change float bits at range edges, and a visitor sitting exactly
 * on an edge would land in a different variant than on the server.
 *
 * @param {number[]} weights normalised weights, one per variant
 * @param {number} [coverage=1] share of visitors in the experiment, clamped to [0, 1]
 * @returns {Array<[number, number]>}
 */
export const bucketRanges = (weights, coverage = 1) => {
  const clamped = Math.min(Math.max(coverage, 0), 1);
  const count = weights.length;
  let usable = count > 0;
  let total = 0;
  for (const weight of weights) {
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) {
      usable = false;
    }
    total += weight;
  }
  // Same tolerance as GrowthBook: anything else is a broken config, so split evenly.
  if (!(usable && total >= 0.99 && total <= 1.01)) {
    weights = Array.from({ length: count }, () => 1 / count);
  }
  const ranges = [];
  let cumulative = 0;
  for (const weight of weights) {
    const start = cumulative;
    cumulative += weight;
    ranges.push([start, start + clamped * weight]);
  }
  return ranges;
};

/**
 * The variant key of `visitorId` in `experiment`, exactly as the server assigns it.
 * Targeting is not applied: check `matchesTargeting` first.
 *
 * @param {object} experiment one element of `GET /experiments` → `experiments`
 * @param {string} visitorId the visitor's id (the `wexp_vid` cookie or `visitor_id`)
 * @returns {string|null} the variant key, or null when the visitor is outside coverage;
 *   the `winner` of a completed experiment whose winner is promoted
 */
export const bucket = (experiment, visitorId) => {
  // A promoted winner is what everybody gets, bots and visitors outside coverage included.
  if (experiment.winner) {
    return experiment.winner;
  }
  const variants = experiment.variants || [];
  const n = hashToUnit(
    experiment.hash_seed ?? experiment.slug,
    String(visitorId),
    experiment.hash_version ?? 2,
  );
  const ranges = bucketRanges(
    variants.map((variant) => variant.weight),
    experiment.coverage ?? 1,
  );
  for (let index = 0; index < ranges.length; index += 1) {
    const [start, end] = ranges[index];
    if (start <= n && n < end) {
      return variants[index].key;
    }
  }
  return null;
};

const normaliseUtm = (value) => (typeof value === "string" ? value.trim().toLowerCase() : "");
const normaliseLocale = (value) =>
  typeof value === "string" ? value.trim().toLowerCase().replace(/_/g, "-") : "";
const activeRule = (rule) => Array.isArray(rule) && rule.length > 0;

/**
 * Whether a visitor's context passes the experiment's targeting rules.
 *
 * Every non-empty rule list must match; an empty or missing list is no restriction, and a
 * missing context value fails a non-empty rule. UTM values compare trimmed and
 * case-insensitively; device compares exactly ("desktop", "mobile", "tablet"); a locale
 * rule "en" matches "en", "en-GB" and "en_gb", while "en-gb" does not match "en".
 *
 * @param {object} experiment with `targeting: {utm_source, utm_medium, utm_campaign,
 *   device, locale}` lists
 * @param {{utm_source?: string, utm_medium?: string, utm_campaign?: string,
 *   device?: string, locale?: string}} [context]
 * @returns {boolean}
 */
export const matchesTargeting = (experiment, context = {}) => {
  const targeting = experiment.targeting || {};
  const ctx = context || {};
  for (const name of ["utm_source", "utm_medium", "utm_campaign"]) {
    const rule = targeting[name];
    if (!activeRule(rule)) continue;
    const value = normaliseUtm(ctx[name]);
    if (!value || !rule.some((allowed) => normaliseUtm(allowed) === value)) return false;
  }
  if (activeRule(targeting.device) && !targeting.device.includes(ctx.device)) {
    return false;
  }
  if (activeRule(targeting.locale)) {
    const locale = normaliseLocale(ctx.locale);
    const matches = (code) => {
      const wanted = normaliseLocale(code);
      return Boolean(wanted) && (locale === wanted || locale.startsWith(`${wanted}-`));
    };
    if (!locale || !targeting.locale.some(matches)) return false;
  }
  return true;
};

/**
 * A best-effort device class from a User-Agent header, for edge workers that must
 * evaluate `device` targeting themselves.
 *
 * This is an approximation: the server classifies with the `user-agents` Python library
 * (ua-parser's device database), which knows many more devices. In particular iPadOS 13+
 * Safari sends a Macintosh user agent and is "desktop" here (and on the server).
 *
 * @param {string} [userAgent]
 * @returns {"desktop"|"mobile"|"tablet"}
 */
export const deviceClass = (userAgent) => {
  const ua = typeof userAgent === "string" ? userAgent : "";
  // Tablets first: iPad Safari and Android tablets also say "Mobile" in places.
  if (/iPad/.test(ua) || /\bTablet\b/i.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua))) {
    return "tablet";
  }
  if (/iPhone|iPod|Windows Phone|Mobile/.test(ua)) {
    return "mobile";
  }
  return "desktop";
};

const randomHex = (byteCount) => {
  const bytes = new Uint8Array(byteCount);
  if (globalThis.crypto && typeof globalThis.crypto.getRandomValues === "function") {
    globalThis.crypto.getRandomValues(bytes);
  } else {
    // Only Node 18 without --experimental-global-webcrypto gets here; ids only need to be
    // unique enough to deduplicate replays, not unguessable.
    for (let i = 0; i < byteCount; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
};

// randomUUID only exists in secure contexts; plain-HTTP pages still have getRandomValues.
const newEventId = () =>
  globalThis.crypto && typeof globalThis.crypto.randomUUID === "function"
    ? globalThis.crypto.randomUUID()
    : randomHex(16);

// Older Cloudflare Workers throw on RequestInit fields they do not implement
// ("The 'credentials' field on 'RequestInitializerDict' is not implemented"), so only send
// the ones the runtime's Request knows about.
const requestSupports = (field) =>
  typeof Request === "undefined" || field in Request.prototype;

const isBrowserPage = () =>
  typeof document !== "undefined" && typeof globalThis.addEventListener === "function";

const currentHref = () =>
  globalThis.location && typeof globalThis.location.href === "string"
    ? globalThis.location.href
    : null;

const isSameOrigin = (url) => {
  const href = currentHref();
  if (!href) return false;
  try {
    return new URL(url, href).origin === new URL(href).origin;
  } catch {
    return false;
  }
};

const queryString = (params) =>
  Object.entries(params)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join("&");

const byteLength = (text) => new TextEncoder().encode(text).length;

// Greedy packing under both server limits; an event too large on its own still goes alone
// so the server's 413 says why, rather than the client dropping it silently.
const packBatches = (events) => {
  const batches = [];
  let current = [];
  let size = 0;
  const overhead = byteLength('{"events":[]}');
  for (const event of events) {
    const eventSize = byteLength(JSON.stringify(event)) + 1;
    if (
      current.length &&
      (current.length >= MAX_BATCH_EVENTS || overhead + size + eventSize > MAX_BATCH_BYTES)
    ) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(event);
    size += eventSize;
  }
  if (current.length) batches.push(current);
  return batches;
};

/**
 * Create a client for the wagtail_experiments JSON API.
 *
 * In edge workers and serverless functions, pending events only go out if the runtime
 * lets them: `ctx.waitUntil(client.flush())` before returning the response.
 *
 * @param {object} [options]
 * @param {string} [options.baseUrl="/_experiments/api"] the API root; must be absolute
 *   outside browsers, e.g. "https://cms.example.com/_experiments/api"
 * @param {string} [options.visitorId] for server-to-server calls: sent as the `visitor_id`
 *   query parameter on every request instead of relying on the visitor cookie
 * @param {typeof fetch} [options.fetch] fetch implementation (default: globalThis.fetch)
 * @param {RequestCredentials} [options.credentials="include"] so the visitor cookie goes
 *   along with cross-origin calls the server allows through CORS
 * @param {number} [options.flushDelayMs=1000] how long tracked events wait to be batched
 * @param {Record<string, string>} [options.headers] extra headers, e.g. a forwarded
 *   User-Agent on the server; when set, events always go by fetch (beacons carry none)
 * @returns {{getAssignment: Function, track: Function, flush: Function,
 *   submitLead: Function, getConfig: Function}}
 */
export const createClient = (options = {}) => {
  const baseUrl = String(options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
  const { visitorId } = options;
  const credentials = options.credentials ?? "include";
  const flushDelayMs = options.flushDelayMs ?? 1000;
  const extraHeaders = options.headers || {};
  const hasExtraHeaders = Object.keys(extraHeaders).length > 0;
  // Looked up per call so a fetch polyfilled after import is still picked up, and called
  // unbound because window.fetch throws "Illegal invocation" when `this` is another object.
  const fetchImpl = (...args) => {
    const impl = options.fetch || globalThis.fetch;
    if (typeof impl !== "function") {
      throw new Error("wagtail_experiments client: no fetch available; pass options.fetch");
    }
    return impl(...args);
  };

  const urlFor = (endpoint, params = {}) => {
    const query = queryString({ ...params, visitor_id: visitorId });
    return `${baseUrl}${endpoint}${query ? `?${query}` : ""}`;
  };

  const requestInit = (init) => {
    const result = { ...init };
    if (requestSupports("credentials")) result.credentials = credentials;
    return result;
  };

  const request = async (method, endpoint, { params, body } = {}) => {
    const headers = { Accept: "application/json", ...extraHeaders };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetchImpl(urlFor(endpoint, params), requestInit(init));
    const text = await response.text();
    let parsed = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // A proxy's HTML error page: keep the status, there is no useful body.
      }
    }
    if (!response.ok) {
      const detail = parsed && typeof parsed.detail === "string" ? `: ${parsed.detail}` : "";
      const error = new Error(`${method} ${endpoint} failed with HTTP ${response.status}${detail}`);
      error.status = response.status;
      error.body = parsed;
      throw error;
    }
    return parsed;
  };

  let queue = [];
  let flushTimer = null;

  const sendBatch = async (events) => {
    const url = urlFor("/events");
    const body = JSON.stringify({ events });
    if (
      !hasExtraHeaders &&
      typeof navigator !== "undefined" &&
      typeof navigator.sendBeacon === "function" &&
      typeof Blob !== "undefined" &&
      isSameOrigin(url)
    ) {
      try {
        if (navigator.sendBeacon(url, new Blob([body], { type: "application/json" }))) return;
      } catch {
        // Refused beacons fall through to a keepalive fetch, which survives navigation too.
      }
    }
    // Cross-origin JSON beacons are refused by browsers (they would need a preflight).
    const init = {
      method: "POST",
      headers: { "Content-Type": "application/json", ...extraHeaders },
      body,
    };
    if (requestSupports("keepalive") && byteLength(body) <= MAX_BATCH_BYTES) {
      init.keepalive = true;
    }
    await fetchImpl(url, requestInit(init));
  };

  /**
   * Send every queued event now, in batches the server accepts.
   * Never rejects: analytics must not break the page or the render.
   *
   * @returns {Promise<void>} settles when the fetches settle (beacons: immediately)
   */
  const flush = async () => {
    if (flushTimer !== null) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    const pending = queue;
    queue = [];
    if (!pending.length) return;
    await Promise.allSettled(packBatches(pending).map((batch) => sendBatch(batch)));
  };

  /**
   * Queue an event for the experiment; the server derives the variant from the exposure.
   *
   * @param {{type?: "impression"|"click"|"conversion"|"custom", experiment: string,
   *   goal?: string, value?: number, step?: number, metadata?: object, url?: string,
   *   block?: string}} event
   * @returns {string} the event's generated id (a replayed id is counted once)
   */
  const track = (event) => {
    if (!event || !event.experiment) {
      throw new TypeError("track() needs an event with an `experiment` slug");
    }
    const queued = { type: "custom" };
    for (const field of EVENT_FIELDS) {
      // The server's schema is strict: nulls and unknown fields (e.g. `variant`) are 400s.
      if (event[field] !== undefined && event[field] !== null) queued[field] = event[field];
    }
    if (queued.url === undefined && isBrowserPage() && currentHref()) {
      queued.url = currentHref();
    }
    // The server refuses longer URLs; a truncated one still says which page it was.
    if (typeof queued.url === "string") queued.url = queued.url.slice(0, MAX_URL_LENGTH);
    queued.id = newEventId();
    // Fail here, in the caller's stack, rather than later inside a timer (circular
    // metadata, BigInt values).
    JSON.stringify(queued);
    queue.push(queued);
    if (queue.length >= MAX_BATCH_EVENTS) {
      flush();
    } else if (flushTimer === null) {
      flushTimer = setTimeout(flush, flushDelayMs);
    }
    return queued.id;
  };

  /**
   * The visitor's variant for the experiment running on `path`.
   *
   * @param {string} path the page path, e.g. "/landing/"
   * @param {{expose?: boolean}} [opts] `expose: false` asks without recording an exposure
   *   (e.g. prefetching), so the visitor is not counted yet
   * @returns {Promise<{visitor_id: string, experiment: string, variant: string,
   *   payload: object, page: {id: number, url: string, api_url: string}}>}
   * @throws {Error} with `.status` and `.body` (`{detail, errors}`) on HTTP errors
   */
  const getAssignment = (path, { expose = true } = {}) =>
    request("GET", "/assignment", {
      params: { path, expose: expose === false ? "false" : undefined },
    });

  /**
   * The published config of running experiments, for local bucketing with `bucket`.
   *
   * @returns {Promise<{experiments: object[]}>}
   * @throws {Error} with `.status` and `.body` on HTTP errors
   */
  const getConfig = () => request("GET", "/experiments");

  /**
   * Submit a lead form, attributed to the experiments the visitor was exposed to.
   *
   * @param {string} form the lead form's slug
   * @param {Record<string, unknown>} data the field values
   * @returns {Promise<{id: number}>}
   * @throws {Error} with `.status` and `.body`; 400 bodies list per-field `errors`
   */
  const submitLead = (form, data) => request("POST", "/leads", { body: { form, data } });

  if (isBrowserPage()) {
    // The last chance before the page goes: hidden tabs may never come back.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") flush();
    });
    globalThis.addEventListener("pagehide", () => {
      flush();
    });
  }

  return { getAssignment, track, flush, submitLead, getConfig };
};

let defaultClient = null;
// Created on first use so importing the module has no side effects (no listeners).
const getDefaultClient = () => {
  if (defaultClient === null) defaultClient = createClient();
  return defaultClient;
};

/**
 * Replace the default client used by the module-level functions.
 * Events still queued in the previous default client are flushed.
 *
 * @param {Parameters<typeof createClient>[0]} options
 * @returns {ReturnType<typeof createClient>} the new default client
 */
export const configure = (options) => {
  if (defaultClient !== null) defaultClient.flush();
  defaultClient = createClient(options);
  return defaultClient;
};

/** `getAssignment` of the default client (see `createClient`). */
export const getAssignment = (path, opts) => getDefaultClient().getAssignment(path, opts);
/** `track` of the default client (see `createClient`). */
export const track = (event) => getDefaultClient().track(event);
/** `flush` of the default client (see `createClient`). */
export const flush = () => getDefaultClient().flush();
/** `submitLead` of the default client (see `createClient`). */
export const submitLead = (form, data) => getDefaultClient().submitLead(form, data);
/** `getConfig` of the default client (see `createClient`). */
export const getConfig = () => getDefaultClient().getConfig();
