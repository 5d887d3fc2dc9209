// The sandbox phone: dial the IVR line, press keys, hear each <Say> (speech synthesis),
// answer the sandbox's calls, text the line and read a number's inbox. Every request goes to
// the page's own JSON endpoints, which play Twilio's side against the service's webhooks.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var sid = null, typed = "";
  function number() { return $("number").value.trim(); }
  function post(path, data) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Sandbox-Phone": "1" },
      body: JSON.stringify(data)
    }).then(function (r) {
      if (!r.ok) { return r.text().then(function (t) { throw new Error(r.status + " " + t.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(0, 200)); }); }
      return r.json();
    });
  }
  function say(text) {
    if (!$("speak").checked || !("speechSynthesis" in window)) { return; }
    try { window.speechSynthesis.speak(new SpeechSynthesisUtterance(text)); } catch (e) { /* no voice */ }
  }
  function line(kind, text) {
    var li = document.createElement("li");
    li.className = "line-" + kind;
    li.textContent = text;
    $("transcript").appendChild(li);
  }
  function setLive(waiting, ended) {
    document.querySelectorAll("#keypad button").forEach(function (b) { b.disabled = !waiting; });
    $("hangup").disabled = ended;
    $("dial").disabled = !ended;
    document.body.setAttribute("data-call", ended ? "ended" : (waiting ? "waiting" : "busy"));
  }
  function show(answer) {
    sid = answer.sid || null;
    answer.lines.forEach(function (l) {
      line(l.kind, l.shown);
      if (l.kind === "say") { say(l.text); }
    });
    setLive(answer.waiting, answer.ended);
    if (answer.ended) { sid = null; refresh(); }
  }
  function fail(err) { line("error", String(err.message || err)); setLive(false, true); }
  $("pick").addEventListener("change", function () { if (this.value) { $("number").value = this.value; refresh(); } });
  $("number").addEventListener("change", refresh);
  $("dial").addEventListener("click", function () {
    $("transcript").textContent = "";
    line("status", "Calling the IVR line from " + number() + "…");
    post("/sandbox/phone/call", { from: number() }).then(show, fail);
  });
  $("hangup").addEventListener("click", function () {
    if (sid) { post("/sandbox/phone/hangup", { sid: sid }).then(show, fail); }
  });
  document.querySelectorAll("#keypad .key").forEach(function (b) {
    b.addEventListener("click", function () {
      typed += b.getAttribute("data-key");
      $("typed").textContent = "Keys: " + typed;
      // one key is enough for the menus; # ends a vendor ID
      if (typed.length === 1 && /[0-9*]/.test(typed) && !document.body.hasAttribute("data-long")) { sendKeys(); }
      else if (b.getAttribute("data-key") === "#") { sendKeys(); }
    });
  });
  function sendKeys() {
    var keys = typed; typed = ""; $("typed").textContent = "";
    if (sid) { post("/sandbox/phone/press", { sid: sid, keys: keys }).then(show, fail); }
  }
  $("send-keys").addEventListener("click", sendKeys);
  $("no-input").addEventListener("click", function () {
    typed = ""; if (sid) { post("/sandbox/phone/press", { sid: sid, keys: "" }).then(show, fail); }
  });
  // a vendor ID is several digits: hold the keys until # when the prompt asks for one
  new MutationObserver(function () {
    var last = $("transcript").lastElementChild;
    var gathering = document.querySelectorAll("#transcript .line-gather");
    var g = gathering.length ? gathering[gathering.length - 1].textContent : "";
    if (g.indexOf("until #") >= 0) { document.body.setAttribute("data-long", "1"); } else { document.body.removeAttribute("data-long"); }
    if (last) { last.scrollIntoView({ block: "nearest" }); }
  }).observe($("transcript"), { childList: true });
  function refresh() {
    if (!number()) { return; }
    fetch("/sandbox/phone/inbox?number=" + encodeURIComponent(number())).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) { return; }
      var ringing = $("ringing"); ringing.textContent = "";
      if (!data.ringing.length) { var none = document.createElement("li"); none.className = "muted"; none.textContent = "Nothing is ringing."; ringing.appendChild(none); }
      data.ringing.forEach(function (c) {
        var li = document.createElement("li");
        li.textContent = c.label + " ringing ";
        var b = document.createElement("button"); b.type = "button"; b.textContent = "Answer";
        b.className = "answer";
        b.addEventListener("click", function () {
          $("transcript").textContent = "";
          post("/sandbox/phone/answer", { number: number(), kind: c.kind, id: c.id, machine: $("machine").checked }).then(show, fail);
        });
        li.appendChild(b); ringing.appendChild(li);
      });
      var inbox = $("inbox"); inbox.textContent = "";
      data.items.forEach(function (i) {
        var li = document.createElement("li");
        li.textContent = i.at + " · " + i.kind + " · " + i.status + " · " + i.text;
        inbox.appendChild(li);
      });
      if (!data.items.length) { var e = document.createElement("li"); e.className = "muted"; e.textContent = "Nothing yet."; inbox.appendChild(e); }
    });
  }
  function sendText(body) {
    post("/sandbox/phone/text", { from: number(), body: body }).then(function (a) {
      $("replies").textContent = a.replies.length ? "Reply: " + a.replies.join(" / ") : "Sent.";
      refresh();
    }, function (err) { $("replies").textContent = String(err.message || err); });
  }
  $("send-text").addEventListener("click", function () { sendText($("text-body").value); });
  document.querySelectorAll(".quick").forEach(function (b) {
    b.addEventListener("click", function () { sendText(b.getAttribute("data-text")); });
  });
  refresh();
  window.setInterval(function () { if (!sid) { refresh(); } }, 3000);
  setLive(false, true);
})();
