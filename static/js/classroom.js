// The classroom's live chart: each `script[data-classroom-figure]` (a plotly figure dict built
// by app/web/classroom/views.py) is drawn into its chart holder with the vendored plotly.js.
// Plotly.react updates the bars in place as answers arrive, so the projected chart does not
// flicker on every poll. The player re-initialises itself after swaps (player.js).
(function () {
  "use strict";
  var loading = null;

  function plotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    var holder = document.querySelector("[data-plotly-src]");
    if (!holder) return Promise.reject(new Error("no plotly source"));
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = holder.getAttribute("data-plotly-src");
        script.onload = function () { resolve(window.Plotly); };
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function colour(layout) {
    var css = getComputedStyle(document.body);
    var text = css.getPropertyValue("--text").trim() || "#1a2030";
    layout.font = Object.assign({}, layout.font, { color: text });
    if (document.body.classList.contains("present")) layout.font.size = 26;
    return layout;
  }

  function draw() {
    document.querySelectorAll("script[data-classroom-figure]").forEach(function (node) {
      var box = node.closest(".classroom-chart");
      var holder = box && box.querySelector(".chart-holder");
      if (!holder) return;
      var figure;
      try { figure = JSON.parse(node.textContent); } catch (e) { return; }
      plotly().then(function (Plotly) {
        Plotly.react(holder, figure.data, colour(Object.assign({}, figure.layout)),
          { responsive: true, displaylogo: false, displayModeBar: false });
        holder.setAttribute("data-drawn", String(figure.data[0].x.reduce(function (a, b) {
          return a + b; }, 0)));
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
  document.addEventListener("htmx:afterSettle", draw);
})();
