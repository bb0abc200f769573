// A Cloudflare Worker in front of a Wagtail site running wagtail_experiments with
// SHARED_CACHE = True: one cached copy per page and combination of variants, never one per
// visitor, never one for all. Tested by tests/test_behind_cloudflare_worker.py under
// Miniflare (Cloudflare's workerd), with the sandbox as origin.
//
// Cloudflare's cache ignores Vary, so the Worker keys the copies itself, in the Cache API:
//   - the visitor's variants key (cookie wexp_v, set by the origin) goes to the origin as the
//     X-Experiments-Variants header, which the origin varies on, and into the cache key;
//   - an index entry at the page's own URL (no query string) records whether the page varies
//     and a generation that every copy of the page (any query string, any variant) carries
//     in its key. Purging that one URL - Wagtail's CloudflareBackend purges by URL, or the
//     PURGE request this Worker answers - drops every copy at once.
// New visitors (no key yet) reach the origin, which buckets them; a response that sets a
// cookie, is private or varies on Cookie is never stored.
//
// Bindings (wrangler.toml [vars]): ORIGIN (optional: where to fetch from, e.g. for a local
// run; without it the Worker fetches the zone's origin), PURGE_FROM (optional: the
// addresses, comma-separated, whose PURGE requests are honoured; CF-Connecting-IP).

const KEY_COOKIE = "wexp_v";
const KEY_HEADER = "X-Experiments-Variants";
const INDEX_HEADER = "X-Wexp-Index";            // "<generation> <keyed|shared>"
const ORIGIN_CACHE_CONTROL = "X-Wexp-Origin-Cache-Control";
const DEFAULT_TTL = 300;                         // pages without their own max-age

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (request.method === "PURGE") return purge(request, env, url);

    const cookie = request.headers.get("Cookie") ?? "";
    const key = cookieValue(cookie, KEY_COOKIE);
    const headers = new Headers(request.headers);
    headers.delete(KEY_HEADER);                  // the key comes from the visitor's cookie only
    if (key !== null) headers.set(KEY_HEADER, key);
    const target = env.ORIGIN ? new URL(url.pathname + url.search, env.ORIGIN) : url;
    const toOrigin = new Request(target, {
      method: request.method,
      headers,
      body: ["GET", "HEAD"].includes(request.method) ? null : request.body,
      redirect: "manual",
    });

    if (!["GET", "HEAD"].includes(request.method) || bypassesCache(url, request, cookie)) {
      return fetch(toOrigin);
    }

    const cache = caches.default;
    const indexKey = new Request(`${url.origin}${url.pathname}`);
    const index = parseIndex(await cache.match(indexKey));
    if (index && index.keyed && key === null) {
      return deliver(await fetch(toOrigin), "MISS");  // a new visitor: bucketed at the origin
    }
    if (index) {
      const cached = await cache.match(copyKey(url, index.generation, index.keyed ? key : null));
      if (cached) return deliver(cached, "HIT");
    }

    const response = await fetch(toOrigin);
    // A HEAD answer has no body to keep; only a GET's copy is stored.
    if (request.method !== "GET" || !storable(response)) return deliver(response, "MISS");
    const keyed = varies(response, KEY_HEADER);
    if (keyed && key === null) return deliver(response, "MISS");
    const generation = index && index.keyed === keyed ? index.generation : crypto.randomUUID();
    const ttl = lifetime(response);
    if (!index || index.generation !== generation) {
      ctx.waitUntil(cache.put(indexKey, new Response(null, {
        headers: { [INDEX_HEADER]: `${generation} ${keyed ? "keyed" : "shared"}`,
                   "Cache-Control": `max-age=${ttl}` },
      })));
    }
    const copy = new Response(response.body, response);
    copy.headers.set(ORIGIN_CACHE_CONTROL, response.headers.get("Cache-Control") ?? "");
    copy.headers.set("Cache-Control", `max-age=${ttl}`);
    copy.headers.delete("Vary");                 // keyed by the Worker, not by Cloudflare
    ctx.waitUntil(cache.put(copyKey(url, generation, keyed ? key : null), copy.clone()));
    return deliver(copy, "MISS");
  },
};

// The admin, the API, previews and logged-in editors (who may force variants) always go to
// the origin.
function bypassesCache(url, request, cookie) {
  return request.headers.has("Authorization") ||
    /(?:^|;\s*)sessionid=/.test(cookie) ||
    /^\/(admin|_experiments|api)\//.test(url.pathname);
}

function cookieValue(cookie, name) {
  const match = new RegExp(`(?:^|;\\s*)${name}=([^;]*)`).exec(cookie);
  return match ? match[1] : null;
}

function parseIndex(response) {
  const value = response?.headers.get(INDEX_HEADER);
  if (!value) return null;
  const [generation, mode] = value.split(" ");
  return { generation, keyed: mode === "keyed" };
}

// One copy per page URL (query string included), generation and variants key.
function copyKey(url, generation, key) {
  const copy = new URL(url);
  copy.searchParams.set("__wexp_copy", key === null ? generation : `${generation}.${key}`);
  return new Request(copy.toString());
}

function storable(response) {
  const cacheControl = response.headers.get("Cache-Control") ?? "";
  return response.status === 200 &&
    !response.headers.has("Set-Cookie") &&
    !/(private|no-store|no-cache)/i.test(cacheControl) &&
    !varies(response, "Cookie") &&
    !varies(response, "*");
}

function varies(response, header) {
  return (response.headers.get("Vary") ?? "")
    .split(",").some((name) => name.trim().toLowerCase() === header.toLowerCase());
}

function lifetime(response) {
  const match = /(?:^|[,\s])(?:s-maxage|max-age)=(\d+)/.exec(response.headers.get("Cache-Control") ?? "");
  return match ? Number(match[1]) : DEFAULT_TTL;
}

// What the browser gets: the origin's own Cache-Control, never the Worker's cache lifetime.
function deliver(response, status) {
  const delivered = new Response(response.body, response);
  if (delivered.headers.has(ORIGIN_CACHE_CONTROL)) {
    const origin = delivered.headers.get(ORIGIN_CACHE_CONTROL);
    delivered.headers.delete(ORIGIN_CACHE_CONTROL);
    if (origin) delivered.headers.set("Cache-Control", origin);
    else delivered.headers.delete("Cache-Control");
  }
  delivered.headers.set("X-Cache", status);
  return delivered;
}

// PURGE <path> (wagtail.contrib.frontend_cache's HTTPBackend) from an allowed address drops
// every copy of the page in this data center; Cloudflare's purge by URL does it everywhere.
async function purge(request, env, url) {
  const allowed = (env.PURGE_FROM ?? "").split(",").map((item) => item.trim()).filter(Boolean);
  const client = request.headers.get("CF-Connecting-IP") ?? "";
  if (!allowed.includes(client)) return new Response("Not allowed", { status: 405 });
  await caches.default.delete(new Request(`${url.origin}${url.pathname}`));
  return new Response("Purged", { status: 200 });
}
