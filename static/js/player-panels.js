// The packet player's panels: for the frame on screen, the chain stack, the step (where,
// verdict, rule text, why, headers before/after), the routing decisions, and at the end the
// conntrack entry and the reply's way back (un-NAT from the conntrack reply tuple,
// conntrack(8)); plus the table of every branch of a -m statistic cascade. Text only comes
// from the trace JSON and the page's strings; user-controlled text is set with textContent.
(function () {
  "use strict";
  if (window.KubeProxyPlayerPanels) return;

  var FIELDS = ["src", "sport", "dst", "dport", "mark"];

  function fmt(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (m, k) {
      return values[k] !== undefined ? values[k] : m;
    });
  }

  function h(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }

  function lang() {
    return /^zh/i.test(document.documentElement.lang || "") ? "zh" : "en";
  }

  function tuple(text) {
    var m = /^\s*([\d.]+):(\d+)\s*->\s*([\d.]+):(\d+)/.exec(text || "");
    return m ? { src: m[1], sport: +m[2], dst: m[3], dport: +m[4] } : null;
  }

  // ACCEPT-like, DROP-like, NAT, a jump, or a plain continue: the badge's colour.
  function verdictClass(v) {
    v = v || "";
    if (/^(DNAT|SNAT|MASQUERADE|REDIRECT|IPVS)$/.test(v)) return "v-nat";
    if (/^(DROP|REJECT)$/.test(v)) return "v-drop";
    if (v === "ACCEPT") return "v-accept";
    if (/^(JUMP|GOTO):/.test(v)) return "v-jump";
    return "v-continue";
  }

  // The rule text with the part that decided it marked: the first failed match, or the target.
  function ruleText(step) {
    var pre = h("pre", "rule-text");
    var code = h("code");
    pre.appendChild(code);
    var text = step.rule_text || "";
    var part = null, cls = "";
    if (!step.matched && step.failed_match && step.failed_match.length) {
      part = step.failed_match.join(" "); cls = "miss";
    } else if (step.matched) {
      var m = / -[jg] .*$/.exec(text);
      part = m ? m[0].slice(1) : null; cls = "hit";
    }
    var at = part ? text.indexOf(part) : -1;
    if (at < 0) { code.textContent = text; return pre; }
    code.appendChild(document.createTextNode(text.slice(0, at)));
    code.appendChild(h("mark", cls, part));
    code.appendChild(document.createTextNode(text.slice(at + part.length)));
    return pre;
  }

  function headerTable(s, before, after) {
    var table = h("table", "headers");
    var head = table.createTHead().insertRow();
    [s.field, s.before, s.after].forEach(function (t) { head.appendChild(h("th", "", t)); });
    var body = table.createTBody();
    FIELDS.forEach(function (f) {
      if (after[f] === undefined && before[f] === undefined) return;
      var row = body.insertRow();
      var changed = String(before[f]) !== String(after[f]);
      row.className = changed ? "changed" : "";
      row.dataset.header = f;
      row.appendChild(h("th", "", f));
      row.appendChild(h("td", "", before[f]));
      var cell = h("td");
      if (changed) {
        var mark = h("mark", "", after[f]);
        mark.title = s.changed;
        cell.appendChild(mark);
        cell.appendChild(h("span", "visually-hidden", " (" + s.changed + ")"));
      } else cell.textContent = after[f];
      row.appendChild(cell);
    });
    return table;
  }

  function routeNote(s, r) {
    var key = r.decision === "local" ? "route.local"
      : r.decision === "drop" ? "route.drop" : r.gateway ? "route.via" : "route.out";
    var p = h("p", "route-note");
    p.appendChild(h("strong", "", s.route + " · "));
    p.appendChild(document.createTextNode(fmt(s[key], r)));
    if (r.reason) p.appendChild(h("span", "muted", " — " + r.reason));
    return p;
  }

  function renderStack(player, frame, list) {
    var s = player.s;
    list.textContent = "";
    if (frame.kind === "end") return renderVisits(player, list);
    var stack = frame.kind === "step" ? player.stackAt[frame.index] : [];
    if (!stack.length) { list.appendChild(h("li", "stack-empty", s["stack.empty"])); return; }
    stack.forEach(function (f, i) {
      var li = h("li", i === stack.length - 1 ? "stack-frame top" : "stack-frame");
      var name = h("code", "stack-chain", f.chain);
      li.appendChild(h("span", "stack-table", f.table));
      li.appendChild(name);
      li.appendChild(h("span", "break"));
      if (f.kind === "ipvs") {
        li.appendChild(h("span", "stack-where", "→ " + (f.real || f.verdict)));
        list.appendChild(li);
        return;
      }
      var where = f.kind === "policy" ? s["stack.policy"] : f.kind === "return" ? s["stack.end"]
        : fmt(s["stack.rule"], { n: f.rule, total: f.total === null ? "?" : f.total });
      var walked = f.kind === "rule" ? f.rule : (f.total === null ? f.rule : f.total);
      li.appendChild(h("span", "stack-where", where));
      li.appendChild(h("span", "stack-walked", fmt(s["stack.walked"], { n: walked })));
      list.appendChild(li);
    });
  }

  // After the last step: every chain visit and the rules walked in it (the cost of the path).
  function renderVisits(player, list) {
    var s = player.s;
    list.appendChild(h("li", "stack-empty", s["stack.visits"]));
    (player.trace.chain_visits || []).forEach(function (v) {
      var li = h("li", "stack-frame visit");
      li.appendChild(h("span", "stack-table", v.hook + " · " + v.table));
      li.appendChild(h("span", "stack-walked",
        fmt(s["stack.walked"], { n: v.rules_evaluated }) + " / " + v.rules_total));
      li.appendChild(h("span", "break"));
      li.appendChild(h("code", "stack-chain", v.chain));
      list.appendChild(li);
    });
  }

  function where(player, frame) {
    var s = player.s, root = player.root;
    var field = function (name) { return root.querySelector('[data-field="' + name + '"]'); };
    var step = frame.step || {};
    var counter = frame.kind === "start" ? s["step.start"] : frame.kind === "end"
      ? s["step.end"] : fmt(s["step.counter"], { n: frame.index + 1,
                                                 total: player.trace.steps.length });
    field("counter").textContent = counter;
    field("hook").textContent = step.hook || "";
    field("table").textContent = step.table ||
      (step.kind === "ipvs" ? "IPVS" : step.kind === "proxy" ? "kube-proxy" : "");
    field("chain").textContent = step.chain || step.virtual_server || step.service || "";
    field("rule").textContent = frame.kind !== "step" ? "" : step.kind === "policy"
      ? s["step.policy"] : step.kind === "return" ? s["step.return"]
      : step.kind === "ipvs" ? (step.scheduler || "") + " → " + (step.real_server || "—")
      : step.kind === "proxy" ? (step.attempts || []).map(function (a) {
        return a.endpoint + (a.ok ? " ✓" : " ✗");
      }).join(" → ") || "—"
      : fmt(s["step.rule"], { n: step.rule });
    var verdict = field("verdict");
    var v = frame.kind === "end" ? (player.trace.final || {}).verdict : step.verdict;
    verdict.textContent = frame.kind === "start" ? "" : v || "";
    verdict.className = "verdict " + verdictClass(v) +
      (frame.kind === "step" && !step.matched ? " v-miss" : "");
    root.dataset.index = String(frame.index);
    root.querySelectorAll(".step-where .chip").forEach(function (c) {
      c.hidden = !c.textContent;
    });
    return counter;
  }

  function stepBody(player, frame, body) {
    var s = player.s, step = frame.step;
    (player.routeAt[frame.index] || []).forEach(function (r) { body.appendChild(routeNote(s, r)); });
    if (step.rule_text) {
      body.appendChild(h("h4", "", s.rule));
      body.appendChild(ruleText(step));
    }
    var why = (step.explain || {})[lang()] || (step.explain || {}).en;
    if (why) {
      body.appendChild(h("h4", "", s.why));
      body.appendChild(h("p", "explain" + (step.matched ? "" : " miss"), why));
    }
    body.appendChild(h("h4", "", s.headers));
    body.appendChild(headerTable(s, player.packetBefore(frame), step.packet));
    if (step.in_iface || step.out_iface) {
      body.appendChild(h("p", "ifaces muted", "in " + (step.in_iface || "—") + " · out " +
                         (step.out_iface || "—")));
    }
  }

  function startBody(player, body) {
    var s = player.s, first = player.trace.steps[0] || {};
    body.appendChild(h("p", "lead-note", player.origin === "local" ? s["step.sent_local"]
      : fmt(s["step.arrives"], { iface: first.in_iface || "eth0" })));
    (player.routeAt.start || []).forEach(function (r) { body.appendChild(routeNote(s, r)); });
    body.appendChild(h("h4", "", s.headers));
    body.appendChild(headerTable(s, player.first, player.first));
  }

  function replay(s, ct) {
    var box = h("div", "reply");
    box.appendChild(h("h4", "", s["reply.title"]));
    var o = tuple(ct.orig), r = tuple(ct.reply);
    if (!o || !r) return box;
    var list = h("ol", "reply-steps");
    var row = function (label, src, dst, cls) {
      var li = h("li", cls || "");
      li.appendChild(h("span", "reply-label", label));
      li.appendChild(h("code", "", src + " → " + dst));
      list.appendChild(li);
    };
    var rs = r.src + ":" + r.sport, rd = r.dst + ":" + r.dport;
    var os = o.src + ":" + o.sport, od = o.dst + ":" + o.dport;
    row(fmt(s["reply.sent"], { who: s["reply.endpoint"] }), rs, rd);
    if (rs !== od) row(fmt(s["reply.undnat"], { addr: od }), od, rd, "unnat");
    if (rd !== os) row(fmt(s["reply.unsnat"], { addr: os }), od, os, "unnat");
    row(s["reply.received"], od, os, "received");
    box.appendChild(list);
    if (rs === od && rd === os) box.appendChild(h("p", "muted", s["reply.plain"]));
    return box;
  }

  function endBody(player, body) {
    var s = player.s, t = player.trace, fin = t.final || {};
    var text = fin.delivered === "local" ? s["final.local"] : fin.delivered === "out"
      ? fmt(s["final.out"], { iface: fin.out_iface }) : s["final.dropped"];
    var p = h("p", "final " + (fin.delivered ? "ok" : "dropped"), text);
    if (fin.reason) p.appendChild(h("span", "muted", " — " + fin.reason));
    body.appendChild(p);
    (player.routeAt.end || []).forEach(function (r) { body.appendChild(routeNote(s, r)); });
    if (typeof t.rules_evaluated === "number") {
      body.appendChild(h("p", "muted", fmt(s["final.evaluated"], { n: t.rules_evaluated })));
    }
    body.appendChild(h("h4", "", s["conntrack.title"]));
    var ct = t.conntrack;
    if (!ct) { body.appendChild(h("p", "muted", s["conntrack.none"])); return; }
    var dl = h("dl", "conntrack");
    [["conntrack.orig", ct.orig], ["conntrack.reply", ct.reply]].forEach(function (pair) {
      dl.appendChild(h("dt", "", s[pair[0]]));
      dl.appendChild(h("dd", "", pair[1]));
    });
    body.appendChild(dl);
    if (ct.listing) {
      var pre = h("pre", "listing");
      pre.appendChild(h("code", "", ct.listing));
      body.appendChild(pre);
    }
    body.appendChild(replay(s, ct));
  }

  function render(player, frame) {
    var counter = where(player, frame);
    renderStack(player, frame, player.root.querySelector("[data-stack]"));
    var body = player.root.querySelector("[data-step-body]");
    body.textContent = "";
    if (frame.kind === "start") startBody(player, body);
    else if (frame.kind === "end") endBody(player, body);
    else stepBody(player, frame, body);
    var live = player.root.querySelector("[data-live]");
    if (live) {
      var step = frame.step;
      var bits = [counter];
      if (step) {
        bits.push(step.hook, step.table, step.chain, step.rule ? "#" + step.rule : "",
                  step.verdict, (step.explain || {})[lang()] || "");
      } else if (frame.kind === "end") bits.push(body.querySelector(".final").textContent);
      live.textContent = bits.filter(Boolean).join(" · ");
    }
  }

  // Every endpoint the cascade reaches, with the sum of the probabilities of its paths.
  function branches(player) {
    var s = player.s, body = player.root.querySelector("[data-branches-body]");
    if (!body) return;
    body.textContent = "";
    var list = player.trace.branches;
    if (!Array.isArray(list)) { body.appendChild(h("p", "muted", s["branches.unavailable"])); return; }
    var by = {}, order = [];
    list.forEach(function (b) {
      var key = b.dnat_to || "";
      if (!(key in by)) {
        order.push(key);
        var sep = (b.path || []).filter(function (p) { return /KUBE-SEP-/.test(p); }).pop();
        by[key] = { p: 0, chain: sep ? sep.split("/").pop() : "", delivered: b.delivered };
      }
      by[key].p += b.probability;
    });
    var taken = (player.trace.conntrack || {}).dnat_to || "";
    var pct = new Intl.NumberFormat(document.documentElement.lang || "en",
                                    { maximumFractionDigits: 1 });
    var table = h("table", "branches");
    table.appendChild(h("caption", "visually-hidden", s["branches.caption"]));
    var tbody = table.createTBody();
    order.forEach(function (key) {
      var b = by[key], row = tbody.insertRow();
      row.className = key === taken ? "taken" : "";
      row.dataset.endpoint = key;
      var ep = h("th", "");
      ep.scope = "row";
      ep.appendChild(h("code", "", key || s["branches.none"]));
      if (key === taken) ep.appendChild(h("span", "tag", s["branches.taken"]));
      row.appendChild(ep);
      row.appendChild(h("td", "branch-chain", b.chain));
      var barCell = h("td", "branch-bar");
      var bar = h("span", "bar");
      bar.style.width = (b.p * 100).toFixed(2) + "%";
      barCell.appendChild(bar);
      row.appendChild(barCell);
      row.appendChild(h("td", "branch-p", pct.format(b.p * 100) + "%"));
    });
    body.appendChild(table);
  }

  window.KubeProxyPlayerPanels = { render: render, branches: branches };
})();
