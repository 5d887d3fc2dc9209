// Call desk keys: n next task, c call, 1-9 pick a disposition, Enter save the wrap-up,
// ? help. The server decides everything; these only press the page's own buttons.
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) {
      if (!(e.key === "Enter" && t.type === "radio")) { return; }
    }
    var form;
    if (e.key === "n" && (form = document.getElementById("next"))) { e.preventDefault(); form.requestSubmit(); }
    else if (e.key === "c" && (form = document.getElementById("call"))) { e.preventDefault(); form.requestSubmit(); }
    else if (/^[1-9]$/.test(e.key)) {
      var radio = document.querySelector('#wrapup input[data-key="' + e.key + '"]');
      if (radio) { e.preventDefault(); radio.checked = true; radio.focus(); }
    }
    else if (e.key === "Enter" && (form = document.getElementById("wrapup"))) { e.preventDefault(); form.requestSubmit(); }
    else if (e.key === "?") { var d = document.getElementById("help"); if (d && !d.open) { d.showModal(); } }
  });
})();
