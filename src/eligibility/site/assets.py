"""The site's style sheet and search script, written by us and shipped as text (no CDN, no third party).

The search reads its index from ``assets/index.js`` (a ``<script>`` that sets a global), not with
``fetch``: browsers refuse ``fetch`` on ``file://`` pages, and the site must work opened from a folder
on a county office's disk with no server and no network.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CSS", "SEARCH_JS"]

CSS: Final = """
:root { --ink: #1d2430; --muted: #5b6576; --line: #d8dde6; --accent: #a4262c; --bg: #fbfbfd; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.6 "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
  system-ui, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.5em; background: #fff;
  border-bottom: 1px solid var(--line); position: sticky; top: 0; }
header a.home { font-weight: 700; color: var(--accent); text-decoration: none; }
header form { flex: 1; }
header input { width: 100%; max-width: 32em; padding: .35em .6em; border: 1px solid var(--line); border-radius: 4px; }
main { max-width: 70em; margin: 0 auto; padding: 1em 1.5em 3em; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 1em; }
h1 { margin-bottom: .1em; } h1 + .en { margin-top: 0; color: var(--muted); }
.en { color: var(--muted); }
code, pre { font-family: "Noto Sans Mono CJK SC", ui-monospace, monospace; font-size: 13px; }
pre { background: #f3f4f8; border: 1px solid var(--line); padding: .7em; overflow-x: auto; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid var(--line); padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f0f2f7; }
.version { border: 1px solid var(--line); background: #fff; padding: .3em 1em 1em; margin: 1em 0; }
.cond ul { margin: .2em 0; padding-left: 1.4em; }
.tag { display: inline-block; padding: 0 .45em; border-radius: 3px; background: #eef0f5; font-size: 12px; }
.fired { background: #e3f4e6; } .not_fired { background: #f6e7e7; } .unknown { background: #fff3d6; }
.ok { color: #21793a; } .gap { color: var(--accent); }
svg text { font-size: 11px; fill: var(--muted); }
#results li { margin: .3em 0; }
"""

SEARCH_JS: Final = """
(function () {
  "use strict";
  var index = window.ELIGIBILITY_INDEX || [];
  var root = document.documentElement.getAttribute("data-root") || "";
  function norm(s) { return String(s || "").toLowerCase(); }
  function search(q) {
    var terms = norm(q).split(/\\s+/).filter(Boolean);
    if (!terms.length) return [];
    return index.filter(function (e) {
      var hay = norm(e.t + " " + e.e + " " + e.k);
      return terms.every(function (t) { return hay.indexOf(t) >= 0; });
    });
  }
  function show(q) {
    var box = document.getElementById("results");
    var count = document.getElementById("count");
    if (!box) return;
    box.textContent = "";
    var hits = search(q);
    hits.slice(0, 200).forEach(function (e) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + e.u;
      a.textContent = e.t;
      li.appendChild(a);
      var small = document.createElement("span");
      small.className = "en";
      small.textContent = " " + e.e + " · " + e.c;
      li.appendChild(small);
      box.appendChild(li);
    });
    if (count) count.textContent = hits.length + " 条结果 / results";
  }
  var params = new URLSearchParams(window.location.search);
  var q = params.get("q") || "";
  var inputs = document.querySelectorAll("input[name=q]");
  inputs.forEach(function (i) { i.value = q; });
  show(q);
  var live = document.getElementById("live");
  if (live) live.addEventListener("input", function () { show(live.value); });
})();
"""
