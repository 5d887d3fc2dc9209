// Live updates for the workspace: one EventSource per tab. Each server event becomes a
// "comms:<kind>" event on <body>, which htmx elements listen for (hx-trigger="comms:dashboard
// from:body"). Without EventSource, or while the stream is down, a "comms:poll" event every
// 30 seconds refreshes the same elements. Pages are readable without this file.
(function () {
  "use strict";
  var printButton = document.getElementById("print");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
  var url = document.body.getAttribute("data-events");
  if (!url) { return; }
  var pollTimer = null;
  function fire(name, detail) {
    document.body.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
  }
  function startPolling() {
    if (pollTimer === null) { pollTimer = window.setInterval(function () { fire("comms:poll", {}); }, 30000); }
  }
  function stopPolling() {
    if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
  }
  if (!("EventSource" in window)) { startPolling(); return; }
  var source = new EventSource(url);
  source.onopen = function () { stopPolling(); document.body.setAttribute("data-live", "sse"); };
  source.onerror = function () { startPolling(); document.body.setAttribute("data-live", "polling"); };
  source.onmessage = function () {};
  ["dashboard", "staff", "review", "review_open", "vendor", "calls"].forEach(function (kind) {
    source.addEventListener(kind, function (e) {
      var detail = {};
      try { detail = JSON.parse(e.data).data || {}; } catch (err) { detail = {}; }
      fire("comms:" + kind, detail);
    });
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
