// The lab console: history on Up/Down, Tab completion from /lab/{id}/complete, Enter runs and
// Shift+Enter adds a line (heredocs), focus stays in the prompt, the log follows new output.
// Also: selects that submit their form on change, and htmx swapping the lab's 409/422/429
// answers (they carry the notice that explains them).
(function () {
  "use strict";
  var history = [];
  var position = 0;

  // The lab keeps its console history: ↑ recalls earlier lines after a reload too.
  function loadHistory() {
    var form = document.getElementById("console-form");
    try {
      var stored = JSON.parse((form && form.dataset.history) || "[]");
      if (Array.isArray(stored)) { history = stored.filter(function (l) { return typeof l === "string"; }); }
    } catch (error) { history = []; }
    position = history.length;
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", loadHistory);
  } else {
    loadHistory();
  }

  function input() { return document.getElementById("console-input"); }
  function log() { return document.getElementById("console-log"); }

  function grow(el) {
    el.style.height = "auto";
    el.style.height = Math.min(el.scrollHeight, 320) + "px";
  }

  function showSuggestions(list, items) {
    list.replaceChildren();
    items.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      li.setAttribute("role", "option");
      list.appendChild(li);
    });
    list.hidden = items.length === 0;
  }

  function commonPrefix(items) {
    if (!items.length) { return ""; }
    var prefix = items[0];
    items.forEach(function (s) {
      while (s.indexOf(prefix) !== 0) { prefix = prefix.slice(0, -1); }
    });
    return prefix;
  }

  function completeLine(el) {
    var lab = document.getElementById("lab");
    var url = lab && lab.dataset.complete;
    if (!url) { return; }
    var line = el.value;
    fetch(url + "?line=" + encodeURIComponent(line), { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : { completions: [] }; })
      .then(function (data) {
        var items = data.completions || [];
        var list = document.getElementById("console-suggestions");
        var start = line.lastIndexOf(" ") + 1;
        var word = line.slice(start);
        var words = items.map(function (c) { return c.indexOf(line) === 0 ? c.slice(start) : c; });
        var prefix = commonPrefix(words);
        if (items.length === 1) {
          el.value = line.slice(0, start) + words[0] + (words[0].endsWith("/") ? "" : " ");
          showSuggestions(list, []);
        } else {
          if (prefix.length > word.length) { el.value = line.slice(0, start) + prefix; }
          showSuggestions(list, words);
        }
      })
      .catch(function () { /* completion is a convenience: stay quiet offline */ });
  }

  function onKey(event) {
    var el = event.target;
    if (el.id !== "console-input") { return; }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      if (el.value.trim()) { el.form.requestSubmit(); }
    } else if (event.key === "Tab" && !event.shiftKey && el.value.indexOf("\n") < 0) {
      event.preventDefault();
      completeLine(el);
    } else if (event.key === "ArrowUp" && el.value.indexOf("\n") < 0 && position > 0) {
      event.preventDefault();
      position -= 1;
      el.value = history[position];
    } else if (event.key === "ArrowDown" && el.value.indexOf("\n") < 0 && position < history.length) {
      event.preventDefault();
      position += 1;
      el.value = position < history.length ? history[position] : "";
    } else if (event.key === "Escape") {
      showSuggestions(document.getElementById("console-suggestions"), []);
    }
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("input", function (event) {
    if (event.target.id === "console-input") { grow(event.target); }
  });

  // A swap replaces the panel that held focus (a rule's Delete button, a pod's button): keep
  // keyboard users in that panel by focusing its heading instead of losing focus to <body>.
  var lastPanel = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var panel = event.detail.elt.closest && event.detail.elt.closest("section[id]");
    lastPanel = panel ? panel.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    var active = document.activeElement;
    if (lastPanel && (!active || active === document.body)) {
      var heading = document.querySelector("#" + lastPanel + " h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    }
    lastPanel = null;
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "console-form") {
      var value = input().value;
      if (value.trim() && history[history.length - 1] !== value) { history.push(value); }
      position = history.length;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "console-form") {
      var el = input();
      el.value = "";
      grow(el);
      showSuggestions(document.getElementById("console-suggestions"), []);
      el.focus();
    }
  });

  // The lab answers a stale version (409), an input over a limit (422) and too many commands
  // (429) with fragments that explain it; htmx would drop them as errors.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 409 || status === 422 || status === 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var el = log();
    if (el) { el.scrollTop = el.scrollHeight; }
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-submit-on-change]")) {
      el.form.requestSubmit();
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });
})();
