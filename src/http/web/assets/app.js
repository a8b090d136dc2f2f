// Gridloop pages: small enhancements of our own. Every page works without this script, except
// offline drafts of the visit log, which need it. No other host is contacted.
(function () {
  "use strict";
  var DRAFTS = "gridloop.drafts.v1";

  // A select marked data-autosubmit sends its form when changed (the role switch).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  document.querySelectorAll(".js-hide").forEach(function (e) { e.hidden = true; });

  function online() { return navigator.onLine !== false; }
  function mark() { document.documentElement.classList.toggle("offline", !online()); }
  window.addEventListener("online", function () { mark(); sendAll(); });
  window.addEventListener("offline", mark);
  mark();

  function load() {
    try { return JSON.parse(localStorage.getItem(DRAFTS) || "[]"); } catch (e) { return []; }
  }
  function save(list) { localStorage.setItem(DRAFTS, JSON.stringify(list)); }

  var form = document.querySelector("form[data-draft]");
  var box = document.getElementById("drafts");
  var listEl = document.getElementById("draft-list");

  function show() {
    if (!box || !listEl) return;
    var drafts = load();
    box.hidden = drafts.length === 0;
    listEl.textContent = "";
    drafts.forEach(function (d) {
      var li = document.createElement("li");
      var row = document.createElement("div");
      row.className = "row";
      var what = document.createElement("span");
      what.className = "what";
      var b = document.createElement("b");
      b.textContent = d.label;
      var small = document.createElement("small");
      small.textContent = d.saved;
      what.appendChild(b);
      what.appendChild(small);
      var badge = document.createElement("span");
      badge.className = "badge warn";
      badge.textContent = form ? form.getAttribute("data-pending-text") : "";
      row.appendChild(what);
      row.appendChild(badge);
      li.appendChild(row);
      listEl.appendChild(li);
    });
  }

  // Sends one draft; resolves true when the server took it (or had taken it before: the same
  // client_id files nothing twice), false when the network failed (the draft stays).
  function send(d) {
    return fetch("/day/log", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: d.body
    }).then(function (r) {
      if (r.redirected && r.url.indexOf("/login") !== -1) return false;
      if (r.ok) return true;
      // Refused (a rule was broken): show the server's page with what was typed.
      return r.text().then(function (html) {
        document.open(); document.write(html); document.close();
        return "refused";
      });
    }, function () { return false; });
  }

  var sending = false;
  function sendAll() {
    if (sending || !online()) return;
    var drafts = load();
    if (drafts.length === 0) return;
    sending = true;
    var next = function (i) {
      if (i >= drafts.length) { sending = false; show(); return; }
      var d = drafts[i];
      send(d).then(function (ok) {
        if (ok === "refused") {
          // The server's page (with what was typed and why) replaced this one.
          save(load().filter(function (x) { return x.id !== d.id; }));
          sending = false;
          return;
        }
        if (ok === true) {
          save(load().filter(function (x) { return x.id !== d.id; }));
          if (load().length === 0) { location.href = "/day?done=log"; return; }
        }
        next(i + 1);
      });
    };
    next(0);
  }

  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = new URLSearchParams(new FormData(form)).toString();
      var id = form.querySelector("[name=client_id]").value;
      var title = document.querySelector("main h1");
      var draft = { id: id, body: body, label: title ? title.textContent : id, saved: new Date().toLocaleString() };
      // Kept first, so that nothing typed is lost if the page dies while sending.
      save(load().filter(function (x) { return x.id !== id; }).concat([draft]));
      show();
      if (box) box.scrollIntoView();
      if (!online()) return;
      send(draft).then(function (ok) {
        if (ok === true) {
          save(load().filter(function (x) { return x.id !== id; }));
          location.href = "/day?done=log";
        } else if (ok === "refused") {
          save(load().filter(function (x) { return x.id !== id; }));
        } else {
          show();
        }
      });
    });
    var again = document.getElementById("send-drafts");
    if (again) again.addEventListener("click", sendAll);
    show();
    sendAll();
  }

  // A long list of categories: typing in the select jumps; a filter box helps on phones.
  document.querySelectorAll("select[data-searchable]").forEach(function (sel) {
    if (sel.options.length < 12) return;
    var input = document.createElement("input");
    input.type = "search";
    input.className = "filter";
    input.setAttribute("aria-label", sel.labels && sel.labels[0] ? sel.labels[0].textContent : "");
    sel.parentNode.insertBefore(input, sel);
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(sel.options, function (o) {
        o.hidden = q !== "" && o.value !== "" && o.textContent.toLowerCase().indexOf(q) === -1;
      });
    });
  });
})();
