/*
 * Lead forms on pages kept by a shared cache (the SHARED_CACHE setting): the cached copy
 * carries no visitor's CSRF token, so the form fetches one (which also sets the visitor's
 * CSRF cookie) as it is submitted, then submits as usual. No inline script.
 */
(function () {
  "use strict";

  if (window.wagtailExperimentsLeadForms) {
    return; // the script is included once per form; one listener is enough
  }
  window.wagtailExperimentsLeadForms = true;

  document.addEventListener("submit", function (domEvent) {
    var form = domEvent.target;
    var tokenUrl = form && form.getAttribute && form.getAttribute("data-wexp-token-url");
    if (!tokenUrl || form.querySelector("input[name=csrfmiddlewaretoken]")) {
      return;
    }
    domEvent.preventDefault();
    window.fetch(tokenUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "csrfmiddlewaretoken";
        input.value = body.token;
        form.appendChild(input);
        form.submit();
      })
      .catch(function () {
        // Submit anyway: the server answers with its own error page rather than nothing.
        form.removeAttribute("data-wexp-token-url");
        form.submit();
      });
  }, true);
})();
