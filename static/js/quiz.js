// The mock interview's timer: counts down from the sitting's allowance (measured from the
// time the server started it, so a reload does not add time) and sends the answers when it
// runs out. The server grades whatever arrives, and notes a sitting that ran over.
(function () {
  "use strict";
  var form = document.querySelector("form[data-quiz-seconds]");
  if (!form) return;
  var seconds = parseInt(form.dataset.quizSeconds, 10);
  var clock = form.querySelector("[data-quiz-clock]");
  if (!seconds || !clock) return;
  var started = Date.parse(form.dataset.quizStarted + (/[zZ+]/.test(form.dataset.quizStarted.slice(-6)) ? "" : "Z"));
  if (isNaN(started)) started = Date.now();
  var deadline = started + seconds * 1000;
  var sent = false;
  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    clock.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    clock.parentElement.classList.toggle("low", left <= 30);
    if (left === 0 && !sent) { sent = true; form.requestSubmit(); return; }
    if (!sent) window.setTimeout(tick, 500);
  }
  form.addEventListener("submit", function () { sent = true; });
  tick();
})();
