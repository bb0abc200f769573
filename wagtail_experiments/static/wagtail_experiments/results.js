/* Refreshes the figures of a running experiment's results screen without reloading. */
(function () {
  "use strict";
  var container = document.getElementById("wexp-results");
  if (!container || !container.dataset.refreshUrl) {
    return;
  }
  var seconds = parseInt(container.dataset.refreshSeconds, 10) || 60;
  window.setInterval(function () {
    if (document.visibilityState === "hidden") {
      return;
    }
    window.fetch(container.dataset.refreshUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          container.innerHTML = html;
          container.dispatchEvent(new CustomEvent("wexp:refreshed", { bubbles: true }));
        }
      })
      .catch(function () {});
  }, seconds * 1000);
})();
