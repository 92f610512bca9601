// Small behaviours that templates used to write inline as hx-on attributes; htmx runs those
// through eval, which the Content-Security-Policy forbids, so they live here, keyed by data
// attributes:
// - [data-xr-toggle]: a click on an explain button (.xr) inside flips its aria-expanded;
// - [data-invalid-from="Header"]: after its request, aria-invalid takes that response header;
// - form[data-reset-on-success]: after a successful request the form empties and refocuses.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var table = event.target.closest && event.target.closest("[data-xr-toggle]");
    var button = table && event.target.closest(".xr");
    if (button && table.contains(button)) {
      button.setAttribute("aria-expanded", button.getAttribute("aria-expanded") !== "true");
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.matches) { return; }
    if (elt.matches("[data-invalid-from]")) {
      var verdict = event.detail.xhr && event.detail.xhr.getResponseHeader(elt.dataset.invalidFrom);
      elt.setAttribute("aria-invalid", verdict || "false");
    }
    if (elt.matches("form[data-reset-on-success]") && event.detail.successful) {
      elt.reset();
      var input = elt.querySelector("input:not([type=hidden])");
      if (input) { input.focus(); }
    }
  });
})();
