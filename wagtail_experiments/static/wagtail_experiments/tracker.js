/*
 * wagtail_experiments tracker: clicks on [data-experiment-goal] elements and
 * window.wagtailExperiments.track(...) become events for the experiments this visitor is in.
 * No dependencies and no inline script: configuration comes from the JSON element that the
 * {% experiment_tracker %} tag renders. The server derives each event's variant.
 */
(function () {
  "use strict";

  var configElement = document.getElementById("wagtail-experiments-config");
  if (!configElement) {
    return;
  }
  var config = JSON.parse(configElement.textContent);
  // null on a page served from a shared cache: asked for when first needed.
  var experiments = config.experiments;
  var waiting = null;
  var queue = [];
  var flushTimer = null;
  var FLUSH_DELAY_MS = 1000;
  var MAX_BATCH = 100;

  function newEventId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Plain-HTTP pages have no randomUUID; getRandomValues is available everywhere.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function send(events) {
    var body = JSON.stringify({ events: events });
    var blob = new Blob([body], { type: "application/json" });
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(config.endpoint, blob)) {
        return;
      }
    } catch (error) {
      // Some browsers refuse JSON beacons; keepalive fetch survives navigation too.
    }
    if (window.fetch) {
      window.fetch(config.endpoint, {
        method: "POST",
        body: body,
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        keepalive: true,
      }).catch(function () {});
    }
  }

  function flush() {
    if (flushTimer) {
      window.clearTimeout(flushTimer);
      flushTimer = null;
    }
    while (queue.length) {
      send(queue.splice(0, MAX_BATCH));
    }
  }

  function enqueue(event) {
    queue.push(event);
    if (queue.length >= MAX_BATCH) {
      flush();
    } else if (!flushTimer) {
      flushTimer = window.setTimeout(flush, FLUSH_DELAY_MS);
    }
  }

  function withExperiments(callback) {
    if (experiments) {
      callback(experiments);
      return;
    }
    if (waiting) {
      waiting.push(callback);
      return;
    }
    waiting = [callback];
    var done = function (list) {
      experiments = list;
      var callbacks = waiting;
      waiting = null;
      callbacks.forEach(function (each) { each(list); });
    };
    if (!window.fetch || !config.experimentsUrl) {
      done([]);
      return;
    }
    window.fetch(config.experimentsUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (body) { done(body.experiments || []); }, function () { done([]); });
  }

  function track(goal, options) {
    options = options || {};
    withExperiments(function (slugs) { trackFor(slugs, goal, options); });
  }

  function trackFor(slugs, goal, options) {
    slugs.forEach(function (slug) {
      var event = { type: options.type || "custom", experiment: slug, id: newEventId() };
      if (goal) { event.goal = goal; }
      ["value", "step", "metadata", "block"].forEach(function (name) {
        if (options[name] !== undefined) { event[name] = options[name]; }
      });
      event.url = window.location.href.slice(0, 2000);
      enqueue(event);
    });
  }

  document.addEventListener("click", function (domEvent) {
    var target = domEvent.target;
    var element = target && target.closest ? target.closest("[data-experiment-goal]") : null;
    if (!element) {
      return;
    }
    var options = { type: "click" };
    var block = element.closest("[data-block-id]");
    if (block && block.getAttribute("data-block-id")) {
      options.block = block.getAttribute("data-block-id");
    }
    withExperiments(function (slugs) {
      trackFor(slugs, element.getAttribute("data-experiment-goal"), options);
      // A click often navigates away: send now rather than after the batching delay.
      flush();
    });
  }, true);

  // A page from a shared cache: learn the visitor's experiments before a click needs them.
  if (!experiments && document.querySelector("[data-experiment-goal]")) {
    withExperiments(function () {});
  }

  // The last chance before the page goes: hidden tabs may never come back.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { flush(); }
  });
  window.addEventListener("pagehide", flush);

  if (config.clientExposure && experiments) {
    experiments.forEach(function (slug) {
      enqueue({ type: "impression", experiment: slug, id: newEventId(),
                url: window.location.href.slice(0, 2000) });
    });
  }

  window.wagtailExperiments = {
    track: track, flush: flush, experiments: (experiments || []).slice()
  };
})();
