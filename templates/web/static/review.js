// Review desk keys: j/k next/previous, a accept, r reject (focuses the reason), e edit a field
// (focuses the corrected value), ? help.
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) { return; }
    var link;
    if (e.key === "j" && (link = document.getElementById("next"))) { window.location.assign(link.href); }
    else if (e.key === "k" && (link = document.getElementById("prev"))) { window.location.assign(link.href); }
    else if (e.key === "a" && document.getElementById("accept")) { e.preventDefault(); document.getElementById("accept").requestSubmit(); }
    else if (e.key === "r" && document.getElementById("reject")) { e.preventDefault(); document.querySelector("#reject textarea").focus(); }
    else if (e.key === "e" && document.getElementById("edit-field")) { e.preventDefault(); document.querySelector("#edit-field input[name=value]").focus(); }
    else if (e.key === "?") { var d = document.getElementById("help"); if (d && !d.open) { d.showModal(); } }
  });
})();
