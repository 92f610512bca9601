// CSRF: htmx requests that change something carry the page's token (the csrf-token meta tag)
// in X-CSRF-Token. A response that started the learner's session hands out the new token in
// the same header, and the meta tag follows it. When the server still refuses a request (a
// page left open across a session change, a request from another site), its 403 carries
// X-CSRF-Refused and a short notice in the learner's language: show that notice at the top of
// the page instead of letting htmx drop the answer silently.
(function () {
  "use strict";
  function meta() { return document.querySelector('meta[name="csrf-token"]'); }

  document.addEventListener("htmx:configRequest", function (event) {
    var tag = meta();
    var token = tag && tag.getAttribute("content");
    if (token && event.detail.verb !== "get") {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var fresh = event.detail.xhr && event.detail.xhr.getResponseHeader("X-CSRF-Token");
    var tag = meta();
    if (fresh && tag) { tag.setAttribute("content", fresh); }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status !== 403 || !xhr.getResponseHeader("X-CSRF-Refused")) { return; }
    var main = document.getElementById("main");
    if (!main) { return; }
    var old = main.querySelector("[data-csrf-refused]");
    if (old) { old.remove(); }
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    event.detail.target = main;
    event.detail.swapOverride = "afterbegin";
  });
})();
