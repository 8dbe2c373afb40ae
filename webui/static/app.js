// Live updates for the status and diagnostics pages. The pages are complete
// without this file; it refreshes the status box and facts (all of them,
// state colour included), the charts and the debug countdown. Same-origin
// GETs with the session cookie; nothing else is sent.
(function () {
  "use strict";
  function set(name, text) {
    var el = document.querySelector('[data-field="' + name + '"]');
    if (el) { el.textContent = text; }
  }
  // The whole box changes with the state: headline, colour, explanation,
  // server and notes come from the same answer (the server formats every
  // field, app.py status_view), never the text alone in an old colour.
  function showStatus(st) {
    var box = document.getElementById("state-box");
    box.className = "state state-" + st.state;
    box.setAttribute("data-state", st.state);
    Object.keys(st.shown).forEach(function (name) { set(name, st.shown[name]); });
    var notes = document.getElementById("notes");
    if (notes) {
      notes.replaceChildren.apply(notes, st.notes.map(function (text) {
        var p = document.createElement("p");
        p.className = "warning";
        p.textContent = text;
        return p;
      }));
    }
    document.getElementById("stale").hidden = true;
  }
  // No answer: what the page shows is no longer known to be true, so it
  // stops saying it (an old "Protected" in green is the worst thing to show).
  function showStale(why) {
    var box = document.getElementById("state-box");
    var last = document.querySelector('[data-field="state"]').textContent;
    if (box.getAttribute("data-state") === "stale") { return; }
    box.className = "state state-unknown stale";
    box.setAttribute("data-state", "stale");
    set("state", "Unknown");
    set("state_text", "The router's pages did not answer (" + why + "), so the state " +
        "of the tunnel is not known. Last state shown: " + last + ".");
    var note = document.getElementById("stale");
    note.textContent = "Not updated since " + new Date().toLocaleTimeString() + "; this " +
        "page tries again every 5 seconds.";
    note.hidden = false;
  }
  function refreshStatus() {
    fetch("/api/status", {credentials: "same-origin"}).then(function (r) {
      if (r.status === 401) {
        // Signed out (session expired): the reload shows the sign-in page.
        window.location.reload();
        return null;
      }
      if (!r.ok) { throw new Error("error " + r.status); }
      return r.json();
    }).then(function (st) {
      if (st) { showStatus(st); }
    }).catch(function (e) {
      showStale(e && e.message && e.message.indexOf("error ") === 0 ? e.message : "no answer");
    });
  }
  function refreshCharts() {
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      fetch("/api/chart/" + box.getAttribute("data-chart"), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) { return; }
          var doc = new DOMParser().parseFromString(text, "image/svg+xml");
          var svg = doc.documentElement;
          if (svg.nodeName === "svg") { box.replaceChildren(document.importNode(svg, true)); }
        }).catch(function () {});
    });
  }
  function countdown() {
    var el = document.getElementById("countdown");
    if (!el) { return; }
    var offset = Number(el.getAttribute("data-now")) - Date.now() / 1000;
    var expires = Number(el.getAttribute("data-expires"));
    function tick() {
      var left = Math.max(0, Math.round(expires - (Date.now() / 1000 + offset)));
      el.textContent = Math.floor(left / 60) + ":" + ("0" + left % 60).slice(-2) + " left";
      if (left === 0) { window.location.reload(); return; }
      window.setTimeout(tick, 1000);
    }
    tick();
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (document.getElementById("state")) {
      window.setInterval(refreshStatus, 5000);
      window.setInterval(refreshCharts, 60000);
    }
    countdown();
  });
}());
