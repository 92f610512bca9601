// Presenter mode: "P" (outside text fields) or the header button toggles large type without a
// reload; the choice is kept in the same cookie the server reads for ?present=1.
(function () {
  "use strict";
  function setPresent(on) {
    document.body.classList.toggle("present", on);
    document.cookie = "present=" + (on ? "1" : "0") + "; Path=/; Max-Age=31536000; SameSite=Lax";
    document.querySelectorAll("[data-present-toggle]").forEach(function (el) {
      el.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }
  function toggle() { setPresent(!document.body.classList.contains("present")); }
  function typing(target) {
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }
  document.addEventListener("keydown", function (event) {
    if (event.key && event.key.toLowerCase() === "p" && !event.ctrlKey && !event.metaKey &&
        !event.altKey && !typing(event.target)) {
      event.preventDefault();
      toggle();
    }
  });
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-present-toggle]");
    if (el) { event.preventDefault(); toggle(); }
  });
  document.addEventListener("keydown", function (event) {
    // role="button" on a link: Space must press it as it would a real button.
    var el = event.target.closest && event.target.closest("[data-present-toggle]");
    if (el && event.key === " ") { event.preventDefault(); toggle(); }
  });
})();
