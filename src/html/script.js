(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  // Map hover: the point's technique, kind, text and detail, written as text (never HTML).
  var data = $("map-data");
  var details = [];
  if (data) {
    try { details = JSON.parse(data.textContent); } catch (e) { details = []; }
  }
  var tip = $("tip");
  function place(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth) { x = Math.max(0, ev.clientX - w - 14); }
    if (y + h > window.innerHeight) { y = Math.max(0, ev.clientY - h - 14); }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function show(ev) {
    var el = ev.target;
    if (!tip || !el.getAttribute) { return; }
    var i = el.getAttribute("data-i");
    var d = i === null ? null : details[+i];
    if (!d) { return; }
    tip.querySelector(".tip-head").textContent = d[0] + " · " + d[1];
    tip.querySelector(".tip-text").textContent = d[2];
    tip.querySelector(".tip-detail").textContent = d[3];
    tip.hidden = false;
    place(ev);
  }
  function hide(ev) {
    if (tip && ev.target.getAttribute && ev.target.getAttribute("data-i") !== null) { tip.hidden = true; }
  }
  document.addEventListener("mouseover", show);
  document.addEventListener("mouseout", hide);
  document.addEventListener("click", function (ev) { if (tip && !tip.hidden && ev.target.getAttribute && ev.target.getAttribute("data-i") === null) { tip.hidden = true; } else { show(ev); } });

  // Highlight one technique on the all-techniques map.
  var pick = $("map-technique");
  var all = $("map-all");
  if (pick && all) {
    pick.addEventListener("change", function () {
      var t = pick.value;
      var pts = all.querySelectorAll("circle[data-t]");
      for (var k = 0; k < pts.length; k++) {
        pts[k].classList.toggle("dim", t !== "" && pts[k].getAttribute("data-t") !== t);
      }
    });
  }

  // Rows: filter by technique, origin and status, and search the row's text.
  var body = $("rows-body");
  if (body) {
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    var f = { technique: $("f-technique"), origin: $("f-origin"), status: $("f-status") };
    var search = $("row-search");
    var count = $("row-count");
    var apply = function () {
      var q = search ? search.value.trim().toLowerCase() : "";
      var shown = 0;
      for (var k = 0; k < rows.length; k++) {
        var r = rows[k];
        var ok = (!q || texts[k].indexOf(q) !== -1);
        for (var key in f) {
          if (ok && f[key] && f[key].value !== "" && r.getAttribute("data-" + key) !== f[key].value) { ok = false; }
        }
        r.hidden = !ok;
        if (ok) { shown++; }
      }
      if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
    };
    for (var key in f) { if (f[key]) { f[key].addEventListener("change", apply); } }
    if (search) { search.addEventListener("input", apply); }
  }

  // Print every folded section.
  window.addEventListener("beforeprint", function () {
    var ds = document.querySelectorAll("details");
    for (var k = 0; k < ds.length; k++) { ds[k].open = true; }
  });
})();
