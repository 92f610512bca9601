// The load chart: draws each `[data-loadchart]` figure (a plotly figure dict built by
// app/web/charts.py) with the vendored plotly.js, loaded only when a chart is on the page.
// Colours follow the page's theme (CSS variables), so the chart reads in light and dark.
(function () {
  "use strict";
  if (window.KubeProxyLoadChart) { window.KubeProxyLoadChart.scan(); return; }
  var loading = null;

  function plotly(src) {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () { resolve(window.Plotly); };
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function themed(figure, el) {
    var css = getComputedStyle(el);
    var v = function (name, fallback) { return css.getPropertyValue(name).trim() || fallback; };
    var layout = Object.assign({}, figure.layout);
    layout.font = Object.assign({}, layout.font, { color: v("--text", "#1a2030") });
    (figure.data || []).forEach(function (trace) {
      if (trace.type !== "bar") return;
      trace.marker = Object.assign({}, trace.marker, { color: v("--accent", "#3b55d9") });
      trace.textfont = Object.assign({}, trace.textfont, { color: v("--accent-text", "#fff") });
    });
    return layout;
  }

  function draw(el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var node = el.querySelector("script[data-figure]");
    var figure;
    try { figure = JSON.parse(node.textContent); } catch (e) { return; }
    plotly(el.dataset.plotlySrc).then(function (Plotly) {
      var holder = document.createElement("div");
      holder.className = "loadchart-plot";
      el.appendChild(holder);
      var loadingNote = el.querySelector(".loadchart-loading");
      if (loadingNote) loadingNote.remove();
      var reduce = window.matchMedia && matchMedia("(prefers-reduced-motion: reduce)").matches;
      return Plotly.newPlot(holder, figure.data, themed(figure, el), {
        responsive: true, displaylogo: false, staticPlot: false,
        modeBarButtonsToRemove: ["select2d", "lasso2d"], doubleClick: reduce ? false : "reset"
      });
    });
  }

  function scan() {
    document.querySelectorAll("[data-loadchart]").forEach(draw);
  }

  window.KubeProxyLoadChart = { scan: scan };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
  document.addEventListener("htmx:afterSettle", scan);
})();
