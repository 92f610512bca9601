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
  // Presenter keys (what a presentation clicker sends, too): f full screen, b or . blanks the
  // screen until the next key. The packet player takes arrows, PageUp/PageDown and space.
  function blank() {
    var cover = document.querySelector(".blank-screen");
    if (cover) { cover.remove(); return; }
    cover = document.createElement("div");
    cover.className = "blank-screen";
    cover.setAttribute("data-blank", "");
    document.body.appendChild(cover);
  }
  function fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen();
  }
  document.addEventListener("keydown", function (event) {
    if (document.querySelector(".blank-screen")) {
      // Any key brings the picture back, and does nothing else.
      event.preventDefault();
      event.stopImmediatePropagation();
      blank();
      return;
    }
    if (!document.body.classList.contains("present") || event.ctrlKey || event.metaKey ||
        event.altKey || typing(event.target)) return;
    var key = event.key && event.key.toLowerCase();
    if (key === "f") { event.preventDefault(); fullscreen(); }
    else if (key === "b" || key === ".") { event.preventDefault(); blank(); }
  }, true);
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".blank-screen")) blank();
  });
  document.addEventListener("keydown", function (event) {
    // role="button" on a link: Space must press it as it would a real button.
    var el = event.target.closest && event.target.closest("[data-present-toggle]");
    if (el && event.key === " ") { event.preventDefault(); toggle(); }
  });
})();
