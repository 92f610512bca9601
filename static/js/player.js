// The packet player: replays one trace JSON (CONTRACTS.md `trace --json`) step by step.
// It reads `<script type="application/json" id="trace-data">` (in the player's element
// `[data-player]`, else in the `section#player` around it, else in the page), builds the frames (before netfilter, one per step, after netfilter), and shows each on the
// diagram (player-diagram.js) and in the panels: the chain stack, the rule, why it matched,
// the headers before/after, and at the end the conntrack entry and the reply's way back.
// Nothing here decides netfilter semantics or draws random numbers: everything shown comes
// from the engine's JSON, so the same seed replays identically. Re-initialises after an htmx
// swap. CSP-friendly: no inline handlers, no eval.
(function () {
  "use strict";
  if (window.KubeProxyPlayer) { window.KubeProxyPlayer.scan(document); return; }

  var BASE_MS = 1500;
  var NAT = { DNAT: true, SNAT: true, MASQUERADE: true, REDIRECT: true };
  var FIELDS = ["src", "sport", "dst", "dport", "mark"];
  var players = [];

  function readJSON(node) {
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  // "10.244.1.137:40000 -> 10.97.139.74:8080" -> {src, sport, dst, dport}
  function tuple(text) {
    var m = /^\s*([\d.]+):(\d+)\s*->\s*([\d.]+):(\d+)/.exec(text || "");
    return m ? { src: m[1], sport: +m[2], dst: m[3], dport: +m[4] } : null;
  }

  // The call stack of user chains at each step: a JUMP/GOTO enters a chain, a step back in
  // a chain lower in the stack means the callee returned (iptables(8), TARGETS: RETURN).
  function stacks(steps, visits) {
    var out = [], stack = [], key = null, vi = 0, enter = null;
    steps.forEach(function (s) {
      if (s.kind === "ipvs" || s.kind === "proxy") {  // IPVS / the userspace proxy: a frame of its own
        key = null;
        var proxy = s.kind === "proxy";
        stack = [{ chain: proxy ? s.service : s.virtual_server || "IPVS",
                   table: proxy ? "kube-proxy" : "ipvs", hook: s.hook, kind: "ipvs",
                   verdict: s.verdict, real: proxy ? s.endpoint : s.real_server, rule: 0 }];
        out.push(stack.map(function (f) { return Object.assign({}, f); }));
        return;
      }
      var k = s.hook + "/" + s.table, push = false;
      if (k !== key || !stack.length) {
        stack = []; key = k; push = true;
      } else if (enter && enter.chain === s.chain) {
        if (enter.goto) stack.pop();  // -g: RETURN goes back to the caller's caller
        push = true;
      } else if (s.chain !== stack[stack.length - 1].chain) {
        var at = -1;
        stack.forEach(function (f, i) { if (f.chain === s.chain) at = i; });
        if (at >= 0) stack = stack.slice(0, at + 1); else push = true;
      }
      if (push) {
        var visit = null;
        for (var j = vi; j < (visits || []).length; j++) {
          var v = visits[j];
          if (v.hook === s.hook && v.table === s.table && v.chain === s.chain) {
            visit = v; vi = j + 1; break;
          }
        }
        stack.push({ chain: s.chain, table: s.table, hook: s.hook,
                     total: visit ? visit.rules_total : null, rule: 0 });
      }
      var top = stack[stack.length - 1];
      if (s.kind === "rule") top.rule = s.rule;
      top.kind = s.kind;
      top.verdict = s.verdict;
      var verdict = s.verdict || "";
      enter = /^(JUMP|GOTO):/.test(verdict)
        ? { chain: verdict.slice(5), goto: verdict[0] === "G" } : null;
      out.push(stack.map(function (f) { return Object.assign({}, f); }));
    });
    return out;
  }

  function original(trace) {
    var first = (trace.steps || [])[0];
    var orig = tuple(trace.conntrack && trace.conntrack.orig);
    if (trace.request) return trace.request;
    if (first && !NAT[first.verdict]) return first.packet;
    if (orig) return Object.assign({ mark: first ? first.packet.mark : "0x0" }, orig);
    return first ? first.packet : (trace.final || {}).packet || {};
  }

  function traceNode(root) {
    var section = root.closest("#player");
    return root.querySelector("#trace-data, script[data-trace]") ||
      (section && section.querySelector("#trace-data")) || document.getElementById("trace-data");
  }

  function Player(root) {
    this.root = root;
    this.s = readJSON(root.querySelector("[data-player-strings]")) || {};
    this.pos = 0;
    this.speed = 1;
    this.matchedOnly = false;
    this.timer = null;
    this.reduced = window.matchMedia &&
      window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    this.bind();
    this.load();
  }

  Player.prototype.q = function (sel) { return this.root.querySelector(sel); };

  Player.prototype.load = function () {
    var node = traceNode(this.root);
    this.raw = node ? node.textContent : "";
    var data = readJSON(node);
    if (data && data.trace && !data.steps) data = Object.assign({}, data.trace, data);
    this.trace = data && Array.isArray(data.steps) ? data : null;
    if (!this.trace) return;
    var steps = this.trace.steps;
    this.stackAt = stacks(steps, this.trace.chain_visits);
    this.origin = steps.length && steps[0].hook === "OUTPUT" ? "local" : "external";
    if (this.trace.origin) this.origin = this.trace.origin;
    this.first = original(this.trace);
    this.routeAt = this.placeRoutes();
    var svg = this.q("[data-diagram]");
    this.diagram = svg && new window.KubeProxyPlayerDiagram.Diagram(svg, this.trace, this.s,
      { reducedMotion: this.reduced, tables: this.trace.tables, origin: this.origin });
    this.renderBranches();
    this.rebuild(-1);
  };

  // Each routing decision is shown with the first step after the hook it follows.
  Player.prototype.placeRoutes = function () {
    var steps = this.trace.steps, at = {};
    (this.trace.routes || []).forEach(function (r) {
      var idx = "end";
      if (r.after === null || r.after === undefined) idx = "start";
      else {
        var seen = false;
        for (var i = 0; i < steps.length; i++) {
          if (steps[i].hook === r.after) seen = true;
          else if (seen) { idx = i; break; }
        }
      }
      (at[idx] = at[idx] || []).push(r);
    });
    return at;
  };

  // Frames: before netfilter, each shown step (all, or matched only), after netfilter.
  Player.prototype.rebuild = function (keepIndex) {
    var self = this, steps = this.trace.steps, frames = [];
    frames.push({ kind: "start", origin: this.origin, index: -1 });
    steps.forEach(function (s, i) {
      if (!self.matchedOnly || s.matched) frames.push({ kind: "step", step: s, index: i });
    });
    var fin = this.trace.final || {};
    frames.push({ kind: "end", delivered: fin.delivered, index: steps.length,
                  lastStep: steps[steps.length - 1] });
    this.frames = frames;
    var scrub = this.q("[data-scrubber]");
    if (scrub) scrub.max = String(frames.length - 1);
    var pos = 0;
    frames.forEach(function (f, i) { if (f.index <= keepIndex) pos = i; });
    this.show(pos, false);
  };

  Player.prototype.bind = function () {
    var self = this;
    this.root.addEventListener("click", function (event) {
      var b = event.target.closest("button");
      if (!b || !self.trace) return;
      if (b.dataset.action) self.act(b.dataset.action);
      if (b.dataset.speed) self.setSpeed(parseFloat(b.dataset.speed));
      if (b.dataset.toggle === "matched") self.setMatched(!self.matchedOnly);
      if (b.dataset.toggle === "branches") self.toggleBranches();
    });
    this.root.addEventListener("input", function (event) {
      if (event.target.matches("[data-scrubber]")) {
        self.pause();
        self.show(parseInt(event.target.value, 10), false);
      }
    });
  };

  Player.prototype.act = function (action) {
    var last = this.frames.length - 1;
    if (action === "play") return this.timer ? this.pause() : this.play();
    this.pause();
    if (action === "forward") this.show(Math.min(this.pos + 1, last), true);
    if (action === "back") this.show(Math.max(this.pos - 1, 0), true);
    if (action === "restart") this.show(0, true);
    if (action === "end") this.show(last, true);
  };

  Player.prototype.play = function () {
    var self = this;
    if (this.pos >= this.frames.length - 1) this.show(0, false);
    var tick = function () {
      if (self.pos >= self.frames.length - 1) return self.pause();
      self.show(self.pos + 1, true);
      self.timer = window.setTimeout(tick, BASE_MS / self.speed);
    };
    this.timer = window.setTimeout(tick, this.pos === 0 ? 250 : BASE_MS / this.speed);
    this.setPlaying(true);
  };

  Player.prototype.pause = function () {
    if (this.timer) window.clearTimeout(this.timer);
    this.timer = null;
    this.setPlaying(false);
  };

  Player.prototype.setPlaying = function (on) {
    var b = this.q('[data-action="play"]');
    if (!b) return;
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.classList.toggle("playing", on);
    this.q("[data-play-label]").textContent = on ? this.s.pause : this.s.play;
  };

  Player.prototype.setSpeed = function (speed) {
    this.speed = speed;
    this.root.querySelectorAll("[data-speed]").forEach(function (b) {
      b.setAttribute("aria-pressed", parseFloat(b.dataset.speed) === speed ? "true" : "false");
    });
  };

  Player.prototype.setMatched = function (on) {
    this.matchedOnly = on;
    this.q('[data-toggle="matched"]').setAttribute("aria-pressed", on ? "true" : "false");
    this.rebuild(this.frames[this.pos].index);
  };

  Player.prototype.toggleBranches = function () {
    var panel = this.q("[data-branches]");
    var on = panel.hidden;
    panel.hidden = !on;
    this.q('[data-toggle="branches"]').setAttribute("aria-pressed", on ? "true" : "false");
  };

  Player.prototype.show = function (pos, animate) {
    var prev = this.frames[this.pos], frame = this.frames[pos];
    var adjacent = Math.abs(pos - this.pos) === 1;
    this.pos = pos;
    var scrub = this.q("[data-scrubber]");
    if (scrub) scrub.value = String(pos);
    if (this.diagram) {
      var ms = animate && adjacent ? Math.min(900, 0.7 * BASE_MS / this.speed) : 0;
      this.diagram.move(prev || frame, frame, prev && prev !== frame ? ms : 0);
      this.diagram.paint(frame, this.visitedHooks(frame), this.counts(frame), this.label(frame));
    }
    window.KubeProxyPlayerPanels.render(this, frame, pos);
  };

  Player.prototype.visitedHooks = function (frame) {
    var out = {}, steps = this.trace.steps;
    for (var i = 0; i < steps.length && i <= frame.index; i++) out[steps[i].hook] = true;
    return out;
  };

  // Rules evaluated so far in each hook/table (what the kernel has walked up to this frame).
  Player.prototype.counts = function (frame) {
    var out = {}, steps = this.trace.steps;
    for (var i = 0; i < steps.length && i <= frame.index; i++) {
      var key = steps[i].hook + "/" + window.KubeProxyPlayerDiagram.tableOf(steps[i]);
      out[key] = (out[key] || 0) + (steps[i].kind === "rule" ? 1 : 0);
    }
    return out;
  };

  Player.prototype.packetAfter = function (frame) {
    if (frame.kind === "start") return this.first;
    if (frame.kind === "end") {
      return this.trace.steps.length ? this.trace.steps[this.trace.steps.length - 1].packet
        : this.first;
    }
    return frame.step.packet;
  };

  Player.prototype.packetBefore = function (frame) {
    if (frame.kind !== "step" || frame.index === 0) return this.first;
    return this.trace.steps[frame.index - 1].packet;
  };

  Player.prototype.label = function (frame) {
    var p = this.packetAfter(frame) || {};
    var before = this.packetBefore(frame) || {};
    var changed = frame.kind === "step" && FIELDS.some(function (f) {
      return String(p[f]) !== String(before[f]);
    });
    return { text: p.src + " → " + p.dst + ":" + p.dport, changed: changed };
  };

  Player.prototype.renderBranches = function () {
    window.KubeProxyPlayerPanels.branches(this);
  };

  function typing(target) {
    return target.isContentEditable ||
      (/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && target.type !== "range");
  }

  // One player on screen takes the keyboard: the one holding focus, else the first.
  function active(target) {
    var inside = target.closest && target.closest("[data-player]");
    var list = players.filter(function (p) { return p.trace && document.contains(p.root); });
    for (var i = 0; i < list.length; i++) if (list[i].root === inside) return list[i];
    return list[0] || null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var p = active(event.target);
    if (!p) return;
    var onControl = /^(BUTTON|A|SUMMARY)$/.test(event.target.tagName);
    var onRange = event.target.type === "range";
    var map = { " ": "play", ArrowRight: "forward", ArrowLeft: "back", Home: "restart",
                End: "end", PageDown: "forward", PageUp: "back" };
    var action = map[event.key];
    if (!action || (event.key === " " && onControl)) return;
    if (onRange && /^(Arrow|Home|End)/.test(event.key)) return;  // the slider's own keys
    event.preventDefault();
    p.act(action);
  });

  function scan(scope) {
    players = players.filter(function (p) { return document.contains(p.root); });
    (scope || document).querySelectorAll("[data-player]").forEach(function (root) {
      var existing = players.filter(function (p) { return p.root === root; })[0];
      var data = traceNode(root);
      if (!existing) players.push(new Player(root));
      else if ((data ? data.textContent : "") !== existing.raw) {
        existing.pause();
        existing.load();
      }
    });
  }

  // The diagram and the panels live in their own files next to this one; a page links only
  // player.js, which loads them (once) before the first player starts.
  var here = (document.currentScript && document.currentScript.src) || "";
  var base = here.replace(/player\.js(\?.*)?$/, "");
  function companion(name, global) {
    return new Promise(function (resolve, reject) {
      if (window[global]) return resolve();
      var script = document.createElement("script");
      script.src = base + name;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }
  var ready = Promise.all([companion("player-diagram.js", "KubeProxyPlayerDiagram"),
                           companion("player-panels.js", "KubeProxyPlayerPanels")]);

  window.KubeProxyPlayer = {
    scan: function (scope) { ready.then(function () { scan(scope); }); },
    players: function () { return players.slice(); }
  };
  function scanAll() { window.KubeProxyPlayer.scan(document); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scanAll);
  else window.setTimeout(scanAll, 0);
  document.addEventListener("htmx:afterSettle", scanAll);
  document.addEventListener("htmx:load", scanAll);
})();
