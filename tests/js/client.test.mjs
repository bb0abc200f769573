// Tests of static/wagtail_experiments/client.js. Bucketing fixtures come from the Python
// implementation: run through pytest (tests/test_client_js.py), which sets
// WEXP_BUCKET_FIXTURES.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import {
  bucket,
  bucketRanges,
  createClient,
  deviceClass,
  fnv1a32,
  hashToUnit,
  matchesTargeting,
} from "../../wagtail_experiments/static/wagtail_experiments/client.js";

const EVENT_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const BASE = "https://cms.example.com/_experiments/api";

describe("bucketing", () => {
  it("matches the Python implementation on every fixture", () => {
    const path = process.env.WEXP_BUCKET_FIXTURES;
    assert.ok(
      path,
      "WEXP_BUCKET_FIXTURES is not set: run this test through pytest " +
        "(.venv/bin/pytest tests/test_client_js.py), which generates the fixtures with Python",
    );
    const { cases } = JSON.parse(readFileSync(path, "utf8"));
    let total = 0;
    const mismatches = [];
    for (const { experiment, visitors } of cases) {
      for (const [visitorId, expected] of visitors) {
        total += 1;
        const actual = bucket(experiment, visitorId);
        if (actual !== expected) {
          mismatches.push({
            seed: experiment.hash_seed,
            version: experiment.hash_version,
            coverage: experiment.coverage,
            weights: experiment.variants.map((v) => v.weight),
            visitorId,
            expected,
            actual,
          });
        }
      }
    }
    assert.ok(total >= 10000, `only ${total} fixtures`);
    assert.deepEqual(
      mismatches.slice(0, 5),
      [],
      `${mismatches.length} of ${total} fixtures differ; first ones shown`,
    );
  });

  it("hashes like the Python fnv1a32", () => {
    assert.equal(fnv1a32(""), 0x811c9dc5);
    assert.equal(fnv1a32("a"), 0xe40c292c);
    // Values from wagtail_experiments.assignment.fnv1a32 (UTF-16 code units).
    assert.equal(fnv1a32("café-été"), 0x8c4df555);
    assert.equal(fnv1a32("テスト"), 0x82a38dd8);
    assert.equal(fnv1a32("🎉"), 0x682eae76);
    assert.equal(fnv1a32("landing-hero🎉abc"), 0x25617b30);
  });

  it("maps to [0, 1) with hash versions 1 and 2 only", () => {
    assert.equal(hashToUnit("café-été", "abc", 2), 0.706);
    assert.equal(hashToUnit("テスト", "xyz", 1), 0.467);
    assert.throws(() => hashToUnit("seed", "abc", 3), /unsupported hash version 3/);
  });

  it("uses normalised weights as given and falls back to equal weights", () => {
    assert.deepEqual(bucketRanges([0.7, 0.1, 0.1, 0.1], 1), [
      [0, 0.7],
      [0.7, 0.7999999999999999],
      [0.7999999999999999, 0.8999999999999999],
      [0.8999999999999999, 0.9999999999999999],
    ]);
    assert.deepEqual(bucketRanges([0.5, 0.5], 0.5), [
      [0, 0.25],
      [0.5, 0.75],
    ]);
    assert.deepEqual(bucketRanges([0.5, 0.5], 7), [
      [0, 0.5],
      [0.5, 1],
    ]);
    assert.deepEqual(bucketRanges([0.5, 0.5], -1), [
      [0, 0],
      [0.5, 0.5],
    ]);
    const equal = [
      [0, 0.5],
      [0.5, 1],
    ];
    assert.deepEqual(bucketRanges([50, 50], 1), equal);
    assert.deepEqual(bucketRanges([1.5, -0.5], 1), equal);
    assert.deepEqual(bucketRanges([NaN, 1], 1), equal);
    assert.deepEqual(bucketRanges([], 1), []);
  });

  it("returns null outside coverage and without variants", () => {
    const experiment = {
      hash_seed: "x",
      hash_version: 2,
      coverage: 0,
      variants: [{ key: "control", weight: 1 }],
    };
    assert.equal(bucket(experiment, "abc"), null);
    assert.equal(bucket({ ...experiment, coverage: 1 }, "abc"), "control");
    assert.equal(bucket({ ...experiment, variants: [] }, "abc"), null);
  });

  it("gives everybody a promoted winner", () => {
    const experiment = {
      hash_seed: "x",
      hash_version: 2,
      coverage: 0,
      winner: "b",
      variants: [{ key: "b", weight: 1 }],
    };
    assert.equal(bucket(experiment, "abc"), "b");
    assert.equal(bucket({ ...experiment, winner: null, coverage: 1 }, "abc"), "b");
  });
});

describe("matchesTargeting", () => {
  const withRules = (targeting) => ({ slug: "t", targeting });

  it("has no restriction for empty or missing lists", () => {
    assert.equal(matchesTargeting(withRules({}), {}), true);
    assert.equal(matchesTargeting({ slug: "t" }, undefined), true);
    const empty = { utm_source: [], utm_medium: [], utm_campaign: [], device: [], locale: [] };
    assert.equal(matchesTargeting(withRules(empty), {}), true);
  });

  it("compares UTM values trimmed and case-insensitively", () => {
    const experiment = withRules({ utm_source: ["Google", " newsletter "] });
    assert.equal(matchesTargeting(experiment, { utm_source: "google" }), true);
    assert.equal(matchesTargeting(experiment, { utm_source: "  NEWSLETTER" }), true);
    assert.equal(matchesTargeting(experiment, { utm_source: "bing" }), false);
    assert.equal(matchesTargeting(experiment, {}), false);
    assert.equal(matchesTargeting(experiment, { utm_source: "  " }), false);
    const medium = withRules({ utm_medium: ["cpc"] });
    assert.equal(matchesTargeting(medium, { utm_medium: "CPC" }), true);
    assert.equal(matchesTargeting(medium, { utm_medium: "email" }), false);
    const campaign = withRules({ utm_campaign: ["spring-sale"] });
    assert.equal(matchesTargeting(campaign, { utm_campaign: "Spring-Sale " }), true);
    assert.equal(matchesTargeting(campaign, { utm_campaign: "spring" }), false);
  });

  it("requires every non-empty rule to match", () => {
    const experiment = withRules({ utm_source: ["google"], device: ["mobile"] });
    assert.equal(matchesTargeting(experiment, { utm_source: "google", device: "mobile" }), true);
    assert.equal(matchesTargeting(experiment, { utm_source: "google", device: "desktop" }), false);
    assert.equal(matchesTargeting(experiment, { utm_source: "bing", device: "mobile" }), false);
  });

  it("compares devices exactly", () => {
    const experiment = withRules({ device: ["mobile", "tablet"] });
    assert.equal(matchesTargeting(experiment, { device: "tablet" }), true);
    assert.equal(matchesTargeting(experiment, { device: "desktop" }), false);
    assert.equal(matchesTargeting(experiment, { device: "Mobile" }), false);
    assert.equal(matchesTargeting(experiment, {}), false);
  });

  it("matches locales by code or code prefix", () => {
    const en = withRules({ locale: ["en"] });
    assert.equal(matchesTargeting(en, { locale: "en" }), true);
    assert.equal(matchesTargeting(en, { locale: "en-GB" }), true);
    assert.equal(matchesTargeting(en, { locale: "en_gb" }), true);
    assert.equal(matchesTargeting(en, { locale: "EN" }), true);
    assert.equal(matchesTargeting(en, { locale: "eng" }), false);
    assert.equal(matchesTargeting(en, { locale: "fr" }), false);
    assert.equal(matchesTargeting(en, {}), false);
    const enGb = withRules({ locale: ["en-gb"] });
    assert.equal(matchesTargeting(enGb, { locale: "en" }), false);
    assert.equal(matchesTargeting(enGb, { locale: "en_GB" }), true);
    assert.equal(matchesTargeting(withRules({ locale: ["pt_BR"] }), { locale: "pt-br" }), true);
  });
});

describe("deviceClass", () => {
  const cases = [
    [
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 " +
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
      "mobile",
    ],
    [
      "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 " +
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
      "tablet",
    ],
    [
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 " +
        "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
      "mobile",
    ],
    [
      "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 " +
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
      "tablet",
    ],
    ["Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0", "tablet"],
    ["Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", "mobile"],
    [
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " +
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
      "desktop",
    ],
    [
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
      "desktop",
    ],
    ["Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop"],
    ["", "desktop"],
    [undefined, "desktop"],
  ];
  for (const [ua, expected] of cases) {
    it(`${expected}: ${String(ua).slice(0, 50)}`, () => {
      assert.equal(deviceClass(ua), expected);
    });
  }
});

// A fetch double that records calls and answers from a queue of [status, body] pairs.
const fakeFetch = (answers = []) => {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, init, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    const [status, body] = answers.shift() ?? [202, { accepted: 1, duplicates: 0, rejected: [] }];
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  };
  return { fetch, calls };
};

const ASSIGNMENT = {
  visitor_id: "V1StGXR8_Z5jdHi6B-myT",
  experiment: "landing-hero",
  variant: "b",
  payload: { new_ui: true },
  page: { id: 4, url: "http://localhost/landing-b/", api_url: "/api/v2/pages/4/" },
};

describe("createClient", () => {
  it("getAssignment builds the URL and resolves with the body", async () => {
    const { fetch, calls } = fakeFetch([[200, ASSIGNMENT], [200, ASSIGNMENT], [200, ASSIGNMENT]]);
    const client = createClient({ baseUrl: `${BASE}/`, fetch });
    assert.deepEqual(await client.getAssignment("/landing page/?a=1&b=é"), ASSIGNMENT);
    assert.equal(
      calls[0].url,
      `${BASE}/assignment?path=%2Flanding%20page%2F%3Fa%3D1%26b%3D%C3%A9`,
    );
    assert.equal(calls[0].init.method, "GET");
    assert.equal(calls[0].init.credentials, "include");
    assert.equal(calls[0].init.body, undefined);

    await client.getAssignment("/landing/", { expose: false });
    assert.equal(calls[1].url, `${BASE}/assignment?path=%2Flanding%2F&expose=false`);
    await client.getAssignment("/landing/", { expose: true });
    assert.equal(calls[2].url, `${BASE}/assignment?path=%2Flanding%2F`);
  });

  it("sends visitor_id and extra headers when configured", async () => {
    const { fetch, calls } = fakeFetch([[200, ASSIGNMENT], [200, { experiments: [] }]]);
    const client = createClient({
      baseUrl: BASE,
      fetch,
      visitorId: "V1StGXR8_Z5jdHi6B-myT",
      credentials: "omit",
      headers: { "User-Agent": "Forwarded/1.0" },
    });
    await client.getAssignment("/landing/", { expose: false });
    assert.equal(
      calls[0].url,
      `${BASE}/assignment?path=%2Flanding%2F&expose=false&visitor_id=V1StGXR8_Z5jdHi6B-myT`,
    );
    assert.equal(calls[0].init.credentials, "omit");
    assert.equal(calls[0].init.headers["User-Agent"], "Forwarded/1.0");
    await client.getConfig();
    assert.equal(calls[1].url, `${BASE}/experiments?visitor_id=V1StGXR8_Z5jdHi6B-myT`);
  });

  it("getAssignment rejects with the status and the parsed body", async () => {
    const error = { detail: "Invalid request.", errors: [{ field: "path", message: "Required" }] };
    const { fetch } = fakeFetch([[400, error], [502, undefined]]);
    const client = createClient({ baseUrl: BASE, fetch });
    await assert.rejects(client.getAssignment(""), (thrown) => {
      assert.equal(thrown.status, 400);
      assert.deepEqual(thrown.body, error);
      assert.match(thrown.message, /HTTP 400: Invalid request\./);
      return true;
    });
    await assert.rejects(client.getAssignment("/x/"), { status: 502, body: null });
  });

  it("getConfig resolves with the experiments", async () => {
    const config = { experiments: [{ slug: "landing-hero", variants: [] }] };
    const { fetch, calls } = fakeFetch([[200, config], [404, { detail: "Not found" }]]);
    const client = createClient({ baseUrl: BASE, fetch });
    assert.deepEqual(await client.getConfig(), config);
    assert.equal(calls[0].url, `${BASE}/experiments`);
    await assert.rejects(client.getConfig(), { status: 404, body: { detail: "Not found" } });
  });

  it("track batches events into one POST on flush", async () => {
    const { fetch, calls } = fakeFetch();
    const client = createClient({ baseUrl: BASE, fetch, visitorId: "abc" });
    const id = client.track({ experiment: "landing-hero", goal: "cta", variant: "b" });
    client.track({ type: "conversion", experiment: "landing-hero", goal: "signup", value: 9.5,
      step: 2, metadata: { plan: "pro" }, url: "https://example.com/", block: "blk-1",
      goalName: "ignored" });
    assert.equal(calls.length, 0, "nothing is sent before the flush");
    await client.flush();
    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.equal(call.url, `${BASE}/events?visitor_id=abc`);
    assert.equal(call.init.method, "POST");
    assert.equal(call.init.headers["Content-Type"], "application/json");
    assert.equal(call.init.keepalive, true);
    const { events } = call.body;
    assert.deepEqual(Object.keys(call.body), ["events"]);
    assert.equal(events.length, 2);
    assert.equal(events[0].id, id);
    for (const event of events) {
      assert.match(event.id, EVENT_ID);
      assert.equal("variant" in event, false);
    }
    assert.deepEqual({ ...events[0], id: undefined }, {
      type: "custom", experiment: "landing-hero", goal: "cta", id: undefined,
    });
    assert.deepEqual({ ...events[1], id: undefined }, {
      type: "conversion", experiment: "landing-hero", goal: "signup", value: 9.5, step: 2,
      metadata: { plan: "pro" }, url: "https://example.com/", block: "blk-1", id: undefined,
    });
    assert.notEqual(events[0].id, events[1].id);
    await client.flush();
    assert.equal(calls.length, 1, "an empty queue sends nothing");
  });

  it("sends 150 events as POSTs of 100 and 50", async () => {
    const { fetch, calls } = fakeFetch();
    const client = createClient({ baseUrl: BASE, fetch });
    for (let i = 0; i < 150; i += 1) {
      client.track({ experiment: "landing-hero", goal: `g${i}` });
    }
    // The 100th event flushes at once, without waiting for the timer.
    assert.equal(calls.length, 1);
    assert.equal(calls[0].body.events.length, 100);
    await client.flush();
    assert.equal(calls.length, 2);
    assert.equal(calls[1].body.events.length, 50);
    const ids = calls.flatMap((call) => call.body.events.map((event) => event.id));
    assert.equal(new Set(ids).size, 150);
    assert.ok(ids.every((id) => EVENT_ID.test(id)));
    assert.deepEqual(
      calls.flatMap((call) => call.body.events.map((event) => event.goal)),
      Array.from({ length: 150 }, (_, i) => `g${i}`),
    );
  });

  it("keeps every request body under the server's 64 KiB limit", async () => {
    const { fetch, calls } = fakeFetch();
    const client = createClient({ baseUrl: BASE, fetch });
    const url = `https://example.com/${"x".repeat(1900)}`;
    for (let i = 0; i < 99; i += 1) {
      client.track({ experiment: "landing-hero", goal: "cta", url });
    }
    await client.flush();
    assert.ok(calls.length > 1);
    assert.equal(calls.reduce((sum, call) => sum + call.body.events.length, 0), 99);
    for (const call of calls) {
      assert.ok(new TextEncoder().encode(call.init.body).length <= 64 * 1024);
    }
  });

  it("flushes after flushDelayMs", async () => {
    const { fetch, calls } = fakeFetch();
    const client = createClient({ baseUrl: BASE, fetch, flushDelayMs: 10 });
    client.track({ experiment: "landing-hero", type: "impression" });
    assert.equal(calls.length, 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls.length, 1);
    assert.equal(calls[0].body.events[0].type, "impression");
  });

  it("refuses events without an experiment and never rejects on flush", async () => {
    const client = createClient({
      baseUrl: BASE,
      fetch: async () => {
        throw new TypeError("network down");
      },
    });
    assert.throws(() => client.track({ goal: "cta" }), /experiment/);
    client.track({ experiment: "landing-hero", goal: "cta" });
    await client.flush();
  });

  it("submitLead posts the form and data", async () => {
    const { fetch, calls } = fakeFetch([[201, { id: 42 }]]);
    const client = createClient({ baseUrl: BASE, fetch });
    const data = { email: "ada@example.com", name: "Ada" };
    assert.deepEqual(await client.submitLead("newsletter", data), { id: 42 });
    assert.equal(calls[0].url, `${BASE}/leads`);
    assert.equal(calls[0].init.method, "POST");
    assert.equal(calls[0].init.headers["Content-Type"], "application/json");
    assert.deepEqual(calls[0].body, { form: "newsletter", data });
  });

  it("submitLead rejects with the per-field errors", async () => {
    const error = {
      detail: "Invalid lead; nothing was stored.",
      errors: [{ field: "data.email", message: "Enter a valid email address." }],
    };
    const { fetch } = fakeFetch([[400, error]]);
    const client = createClient({ baseUrl: BASE, fetch });
    await assert.rejects(client.submitLead("newsletter", { email: "nope" }), (thrown) => {
      assert.equal(thrown.status, 400);
      assert.deepEqual(thrown.body.errors, error.errors);
      return true;
    });
  });
});

describe("createClient in a browser page", () => {
  // Stand-ins for the page globals client.js looks for; restored after each test so the
  // other tests keep running as on a server.
  const withPage = async (sendBeacon, run) => {
    const names = ["location", "navigator", "document", "addEventListener"];
    const saved = names.map((name) => Object.getOwnPropertyDescriptor(globalThis, name));
    const listeners = {};
    const listen = (type, listener) => {
      (listeners[type] ||= []).push(listener);
    };
    const page = {
      location: { href: "https://cms.example.com/landing/?utm_source=x" },
      navigator: { sendBeacon },
      document: { visibilityState: "visible", addEventListener: listen },
      addEventListener: listen,
    };
    for (const name of names) {
      Object.defineProperty(globalThis, name, {
        value: page[name], configurable: true, writable: true,
      });
    }
    try {
      await run({ page, fire: (type) => (listeners[type] || []).forEach((l) => l()) });
    } finally {
      names.forEach((name, i) => {
        if (saved[i]) Object.defineProperty(globalThis, name, saved[i]);
        else delete globalThis[name];
      });
    }
  };

  it("beacons same-origin events, with the page URL", async () => {
    const beacons = [];
    await withPage((url, blob) => beacons.push({ url, blob }) > 0, async () => {
      const { fetch, calls } = fakeFetch();
      const client = createClient({ fetch });
      client.track({ experiment: "landing-hero", goal: "cta" });
      await client.flush();
      assert.equal(calls.length, 0);
      assert.equal(beacons.length, 1);
      assert.equal(beacons[0].url, "/_experiments/api/events");
      assert.equal(beacons[0].blob.type, "application/json");
      const { events } = JSON.parse(await beacons[0].blob.text());
      assert.equal(events[0].url, "https://cms.example.com/landing/?utm_source=x");
    });
  });

  it("falls back to a keepalive fetch when the beacon is refused", async () => {
    await withPage(() => false, async () => {
      const { fetch, calls } = fakeFetch();
      const client = createClient({ baseUrl: "https://cms.example.com/_experiments/api/", fetch });
      client.track({ experiment: "landing-hero", goal: "cta" });
      await client.flush();
      assert.equal(calls.length, 1);
      assert.equal(calls[0].url, "https://cms.example.com/_experiments/api/events");
      assert.equal(calls[0].init.keepalive, true);
      assert.equal(calls[0].init.credentials, "include");
    });
  });

  it("uses fetch across origins and flushes when the page is hidden or left", async () => {
    const beacons = [];
    await withPage((url) => beacons.push(url) > 0, async ({ page, fire }) => {
      const { fetch, calls } = fakeFetch();
      const client = createClient({ baseUrl: "https://api.example.org/_experiments/api", fetch });
      client.track({ experiment: "landing-hero", goal: "cta" });
      fire("visibilitychange");
      assert.equal(calls.length, 0, "still visible: nothing sent");
      page.document.visibilityState = "hidden";
      fire("visibilitychange");
      client.track({ experiment: "landing-hero", goal: "cta" });
      fire("pagehide");
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(beacons.length, 0, "cross-origin JSON beacons are refused by browsers");
      assert.equal(calls.length, 2);
      assert.ok(calls.every((call) => call.body.events.length === 1));
    });
  });
});
