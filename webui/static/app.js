// Live updates for the status and diagnostics pages. The pages are complete
// without this file; it only refreshes numbers, the charts and the debug
// countdown. Same-origin GETs with the session cookie; nothing else is sent.
(function () {
  "use strict";
  function fmtDuration(s) {
    if (s === null || s === undefined) { return "-"; }
    if (s < 120) { return s + " s"; }
    if (s < 7200) { return Math.floor(s / 60) + " min"; }
    if (s < 172800) { return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min"; }
    return Math.floor(s / 86400) + " days";
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) { return "-"; }
    var units = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return i === 0 ? n + " B" : n.toFixed(1) + " " + units[i];
  }
  function set(name, text) {
    var el = document.querySelector('[data-field="' + name + '"]');
    if (el) { el.textContent = text; }
  }
  function refreshStatus() {
    fetch("/api/status", {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (st) {
      if (!st) { return; }
      set("state", st.state.replace("-", " "));
      set("state_text", st.state_text);
      set("uptime", fmtDuration(st.uptime_s));
      set("handshake", st.handshake_age_s === null ? "-" : fmtDuration(st.handshake_age_s) + " ago");
      set("rx_rate", st.rx_rate === null ? "-" : fmtBytes(st.rx_rate) + "/s");
      set("tx_rate", st.tx_rate === null ? "-" : fmtBytes(st.tx_rate) + "/s");
      set("kill_switch", st.kill_switch ? "on" : "OFF");
      set("public_ip", st.public_ip_text || st.public_ip || "-");
    }).catch(function () {});
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
