// The packet player's SVG: the node's netfilter path drawn from one trace, and the packet token
// that moves along it. Hooks stand where the kernel runs them: the forwarded path along the
// bottom (PREROUTING, the routing decision, FORWARD, POSTROUTING), the local path above it
// (INPUT, a local process, OUTPUT). Inside each hook the tables are stacked in the order their
// base chains are registered (lowest priority first, as app/sim/netfilter/hooks.py orders them,
// with iptables-nft's security at 150). No framework, no randomness: the same trace always
// draws the same picture.
(function () {
  "use strict";
  if (window.KubeProxyPlayerDiagram) return;

  var SVG = "http://www.w3.org/2000/svg";
  // Tables per hook, in priority order (kernel-facts.md §5.2/5.3; nat is DNAT at -100 on
  // PREROUTING/OUTPUT and SNAT at +100 on INPUT/POSTROUTING).
  // The IPVS director is drawn as a pseudo-table where ip_vs_core.c registers it: LOCAL_IN
  // at 99 (between filter and nat INPUT), LOCAL_OUT at -98 (after nat OUTPUT).
  var HOOK_TABLES = {
    PREROUTING: ["raw", "mangle", "nat"],
    INPUT: ["mangle", "filter", "ipvs", "nat", "security"],
    FORWARD: ["mangle", "filter", "security"],
    OUTPUT: ["raw", "mangle", "nat", "ipvs", "filter", "security"],
    POSTROUTING: ["mangle", "nat"]
  };

  // A step's place in a hook: its table, or "ipvs" for the director's decision.
  function tableOf(step) { return step.table || (step.kind === "ipvs" ? "ipvs" : ""); }
  var BOX_W = 176, HEAD = 32, PILL_H = 26, GAP = 6, PAD = 12;
  // Centre x of each element; the upper row holds INPUT, the process and OUTPUT.
  var X = { iin: 20, PREROUTING: 140, R1: 282, INPUT: 282, proc: 478, FORWARD: 478,
            OUTPUT: 676, R2: 812, POSTROUTING: 812, out: 972 };
  var UPPER = { INPUT: true, OUTPUT: true };

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, cls, anchor) {
    var node = el("text", { x: x, y: y, "class": cls || "", "text-anchor": anchor || "middle" },
                  parent);
    node.textContent = value;
    return node;
  }

  function boxHeight(n) { return HEAD + Math.max(n, 1) * (PILL_H + GAP) - GAP + PAD; }

  // The tables drawn in each hook: those of the trace (steps and chain visits), or every
  // table the caller says the ruleset holds.
  function tablesOf(trace, extra) {
    var seen = {};
    (trace.steps || []).forEach(function (s) { seen[tableOf(s)] = true; });
    (trace.chain_visits || []).forEach(function (v) { seen[v.table] = true; });
    (extra || []).forEach(function (t) { seen[t] = true; });
    var out = {};
    Object.keys(HOOK_TABLES).forEach(function (hook) {
      out[hook] = HOOK_TABLES[hook].filter(function (t) { return seen[t]; });
    });
    // nftables names its own tables (kube-proxy's is "kube-proxy") and hooks its base chains
    // wherever it likes: draw such a table in each hook one of its steps ran in.
    (trace.steps || []).forEach(function (s) {
      var t = tableOf(s);
      var known = Object.keys(HOOK_TABLES).some(function (h) {
        return HOOK_TABLES[h].indexOf(t) >= 0;
      });
      if (t && !known && out[s.hook] && out[s.hook].indexOf(t) < 0) out[s.hook].push(t);
    });
    return out;
  }

  function Diagram(svg, trace, strings, options) {
    this.svg = svg;
    this.trace = trace;
    this.s = strings;
    this.reduced = options.reducedMotion;
    this.origin = options.origin;
    this.tables = tablesOf(trace, options.tables);
    this.pills = {};
    this.hooks = {};
    this.layout();
    this.draw();
  }

  Diagram.prototype.layout = function () {
    var t = this.tables;
    var nU = Math.max(t.INPUT.length, t.OUTPUT.length);
    var nL = Math.max(t.PREROUTING.length, t.FORWARD.length, t.POSTROUTING.length);
    this.hU = boxHeight(nU);
    this.hL = boxHeight(nL);
    this.yU = 30;
    this.yL = this.yU + this.hU + 74;
    this.cU = this.yU + this.hU / 2;
    this.cL = this.yL + this.hL / 2;
    this.height = this.yL + this.hL + 30;
  };

  Diagram.prototype.draw = function () {
    var svg = this.svg;
    Array.prototype.slice.call(svg.childNodes).forEach(function (n) {
      if (n.nodeName !== "title") svg.removeChild(n);
    });
    svg.setAttribute("viewBox", "0 0 1000 " + Math.round(this.height));
    var defs = el("defs", {}, svg);
    var marker = el("marker", { id: "pl-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", "class": "pl-arrowhead" }, marker);
    this.drawWires(el("g", { "class": "pl-wires" }, svg));
    var self = this;
    Object.keys(HOOK_TABLES).forEach(function (hook) { self.drawHook(svg, hook); });
    this.drawDecisions(svg);
    this.drawEnds(svg);
    this.drawToken(svg);
  };

  Diagram.prototype.drawWires = function (g) {
    var cL = this.cL, cU = this.cU, h = BOX_W / 2, d = 18;
    var topL = this.yL, botU = this.yU + this.hU;
    var paths = [
      ["M", X.iin + 14, cL, "H", X.PREROUTING - h],
      ["M", X.PREROUTING + h, cL, "H", X.R1 - d],
      ["M", X.R1 + d, cL, "H", X.FORWARD - h],
      ["M", X.FORWARD + h, cL, "H", X.POSTROUTING - h],
      ["M", X.POSTROUTING + h, cL, "H", X.out - 16],
      ["M", X.R1, cL - d, "V", botU],
      ["M", X.INPUT + h, cU, "H", X.proc - 66],
      ["M", X.proc + 66, cU, "H", X.OUTPUT - h],
      ["M", X.OUTPUT + h, cU, "H", X.R2 - d],
      ["M", X.R2, cU + d, "V", topL]
    ];
    paths.forEach(function (p) {
      el("path", { d: p.join(" "), "marker-end": "url(#pl-arrow)" }, g);
    });
  };

  Diagram.prototype.hookBox = function (hook) {
    var upper = UPPER[hook];
    return { x: X[hook] - BOX_W / 2, y: upper ? this.yU : this.yL,
             h: upper ? this.hU : this.hL };
  };

  Diagram.prototype.drawHook = function (svg, hook) {
    var b = this.hookBox(hook);
    var g = el("g", { "class": "pl-hook", "data-hook": hook }, svg);
    el("rect", { x: b.x, y: b.y, width: BOX_W, height: b.h, rx: 12, "class": "pl-hook-box" }, g);
    text(g, X[hook], b.y + 21, hook, "pl-hook-name");
    var tables = this.tables[hook];
    if (!tables.length) {
      text(g, X[hook], b.y + HEAD + 16, this.s.no_tables, "pl-none");
    }
    var self = this;
    tables.forEach(function (table, i) {
      var y = b.y + HEAD + i * (PILL_H + GAP);
      var p = el("g", { "class": "pl-pill", "data-pill": hook + "/" + table }, g);
      el("rect", { x: b.x + 10, y: y, width: BOX_W - 20, height: PILL_H, rx: 8 }, p);
      text(p, b.x + 22, y + 17.5, table, "pl-table", "start");
      var count = text(p, b.x + BOX_W - 22, y + 17.5, "", "pl-count", "end");
      self.pills[hook + "/" + table] = { g: p, count: count, x: X[hook], y: y + PILL_H / 2 };
    });
    this.hooks[hook] = g;
  };

  Diagram.prototype.drawDecisions = function (svg) {
    var d = 18, self = this;
    [["R1", this.cL, this.cL + d + 18], ["R2", this.cU, this.cU - d - 8]].forEach(function (r) {
      var x = X[r[0]], y = r[1];
      var g = el("g", { "class": "pl-decision", "data-route": r[0] }, svg);
      el("path", { d: ["M", x, y - d, "L", x + d, y, "L", x, y + d, "L", x - d, y, "z"].join(" ") }, g);
      text(g, x, r[2], self.s.routing, "pl-note");
    });
  };

  Diagram.prototype.drawEnds = function (svg) {
    var first = (this.trace.steps || [])[0] || {};
    var fin = this.trace.final || {};
    if (this.origin !== "local") text(svg, X.iin, this.cL - 16, first.in_iface || "eth0", "pl-iface");
    text(svg, X.out - 4, this.cL - 16, fin.out_iface || "", "pl-iface", "middle");
    this.outLabel = svg.lastChild;
    var g = el("g", { "class": "pl-process" }, svg);
    el("rect", { x: X.proc - 66, y: this.cU - 20, width: 132, height: 40, rx: 20 }, g);
    text(g, X.proc, this.cU + 5, this.s.process, "pl-process-name");
  };

  Diagram.prototype.drawToken = function (svg) {
    var g = el("g", { "class": "pl-token", "aria-hidden": "true" }, svg);
    el("circle", { r: 9, cx: 0, cy: 0, "class": "pl-token-dot" }, g);
    var label = el("g", { "class": "pl-token-label", transform: "translate(14,-30)" }, g);
    this.labelBox = el("rect", { x: 0, y: 0, height: 22, rx: 6, width: 100 }, label);
    this.labelText = text(label, 8, 15, "", "pl-token-text", "start");
    this.token = g;
    this.place(this.pointOf({ kind: "start" }));
  };

  // Where the token rests for a frame (see player.js for frames).
  Diagram.prototype.pointOf = function (frame) {
    if (frame.kind === "start") {
      return frame.origin === "local" ? { x: X.proc, y: this.cU } : { x: X.iin + 4, y: this.cL };
    }
    if (frame.kind === "end") {
      var last = frame.lastStep;
      if (frame.delivered === "out") return { x: X.out - 10, y: this.cL };
      if (frame.delivered === "local") return { x: X.proc, y: this.cU };
      return last ? this.pointOf({ kind: "step", step: last }) : { x: X.iin + 4, y: this.cL };
    }
    if (frame.step.kind === "proxy") return { x: X.proc, y: this.cU };  // kube-proxy itself
    var pill = this.pills[frame.step.hook + "/" + tableOf(frame.step)];
    return pill ? { x: pill.x, y: pill.y } : { x: X[frame.step.hook] || 500, y: this.cL };
  };

  function hookOf(frame) {
    if (frame.kind === "step") return frame.step.kind === "proxy" ? "proc" : frame.step.hook;
    if (frame.kind === "start") return frame.origin === "local" ? "proc" : "iin";
    return frame.delivered === "out" ? "out" : frame.delivered === "local" ? "proc" : null;
  }

  // The corners the wires turn at between two places, so the token follows the drawing.
  Diagram.prototype.via = function (from, to) {
    var R1 = { x: X.R1, y: this.cL }, R2 = { x: X.R2, y: this.cU };
    var key = from + ">" + to;
    var table = {
      "PREROUTING>FORWARD": [R1], "PREROUTING>INPUT": [R1, { x: X.R1, y: this.cU }],
      "PREROUTING>out": [R1, { x: X.POSTROUTING, y: this.cL }],
      "iin>PREROUTING": [{ x: X.PREROUTING - BOX_W / 2, y: this.cL }],
      "INPUT>proc": [{ x: X.INPUT + BOX_W / 2, y: this.cU }],
      "proc>OUTPUT": [{ x: X.OUTPUT - BOX_W / 2, y: this.cU }],
      "INPUT>OUTPUT": [{ x: X.INPUT + BOX_W / 2, y: this.cU }, { x: X.OUTPUT - BOX_W / 2, y: this.cU }],
      "OUTPUT>POSTROUTING": [{ x: X.OUTPUT + BOX_W / 2, y: this.cU }, R2,
                             { x: X.R2, y: this.yL }],
      "FORWARD>POSTROUTING": [{ x: X.FORWARD + BOX_W / 2, y: this.cL },
                              { x: X.POSTROUTING - BOX_W / 2, y: this.cL }],
      "POSTROUTING>out": [{ x: X.POSTROUTING + BOX_W / 2, y: this.cL }]
    };
    return table[key] || [];
  };

  Diagram.prototype.place = function (p) {
    this.at = p;
    this.token.style.transform = "translate(" + p.x + "px," + p.y + "px)";
  };

  // Move the token from frame a to frame b; `adjacent` frames follow the wires.
  Diagram.prototype.move = function (a, b, ms) {
    var from = this.pointOf(a), to = this.pointOf(b);
    var points = [from];
    var ha = hookOf(a), hb = hookOf(b);
    if (ha && hb && ha !== hb) {
      var forward = this.via(ha, hb);
      points = points.concat(forward.length ? forward : this.via(hb, ha).slice().reverse());
    }
    points.push(to);
    if (this.anim) this.anim.cancel();
    this.place(to);
    if (this.reduced || !ms || !this.token.animate) return;
    var frames = points.map(function (p) {
      return { transform: "translate(" + p.x + "px," + p.y + "px)" };
    });
    this.anim = this.token.animate(frames, { duration: ms, easing: "ease-in-out" });
  };

  // Paint the state of one frame: which hook/table is current, visited, how many rules ran.
  Diagram.prototype.paint = function (frame, visited, counts, label) {
    var self = this;
    Object.keys(this.hooks).forEach(function (hook) {
      var g = self.hooks[hook];
      g.classList.toggle("visited", !!visited[hook]);
      g.classList.toggle("current", frame.kind === "step" && frame.step.hook === hook);
    });
    Object.keys(this.pills).forEach(function (key) {
      var pill = self.pills[key];
      var active = frame.kind === "step" && key === frame.step.hook + "/" + tableOf(frame.step);
      pill.g.classList.toggle("active", active);
      pill.g.classList.toggle("visited", counts[key] !== undefined);
      pill.count.textContent = counts[key] ? self.s.rules_short.replace("{n}", counts[key]) : "";
    });
    this.token.classList.toggle("dropped", frame.kind === "end" && !frame.delivered);
    this.token.classList.toggle("nat", !!label.changed);
    this.labelText.textContent = label.text;
    var width = this.labelText.getComputedTextLength ? this.labelText.getComputedTextLength() : 90;
    this.labelBox.setAttribute("width", Math.ceil(width + 16));
    // The label rides above the hook box the token is in (clear of the table names), and
    // stays inside the drawing at both edges.
    var at = this.at || { x: 0, y: 0 };
    var step = frame.kind === "step" ? frame.step
      : frame.kind === "end" && !frame.delivered ? frame.lastStep : null;
    var top = step && X[step.hook] ? this.hookBox(step.hook).y : at.y - 12;
    var left = Math.max(4, Math.min(996 - width - 16, at.x - (width + 16) / 2));
    this.labelBox.parentNode.setAttribute("transform",
      "translate(" + (left - at.x) + "," + (top - 28 - at.y) + ")");
  };

  window.KubeProxyPlayerDiagram = { Diagram: Diagram, HOOK_TABLES: HOOK_TABLES, tableOf: tableOf };
})();
