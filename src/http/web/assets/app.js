// Gridloop pages: small enhancements of our own. Every page works without this script, except
// offline drafts of the visit log, which need it. No other host is contacted.
(function () {
  "use strict";
  // Drafts live in IndexedDB (database "gridloop", store "drafts"): a draft keeps the form's
  // fields and its photos (as Blobs, which localStorage cannot hold).
  var DB = "gridloop", STORE = "drafts";

  // A select marked data-autosubmit sends its form when changed (the role switch).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  document.querySelectorAll(".js-hide").forEach(function (e) { e.hidden = true; });

  // The bell: the unread count on the notifications tab, from the same site's API.
  var bell = document.querySelector("[data-unread]");
  if (bell && window.fetch) {
    fetch("/api/v1/notifications/unread", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (v && v.unread > 0) {
          bell.textContent = v.unread > 99 ? "99+" : String(v.unread);
          bell.hidden = false;
        }
      })
      .catch(function () {});
  }

  function online() { return navigator.onLine !== false; }
  function mark() { document.documentElement.classList.toggle("offline", !online()); }
  window.addEventListener("online", function () { mark(); sendAll(); });
  window.addEventListener("offline", mark);
  mark();

  function store(mode, work) {
    return new Promise(function (resolve, reject) {
      var open = indexedDB.open(DB, 1);
      open.onupgradeneeded = function () { open.result.createObjectStore(STORE, { keyPath: "id" }); };
      open.onerror = function () { reject(open.error); };
      open.onsuccess = function () {
        var db = open.result;
        var tx = db.transaction(STORE, mode);
        var req = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(req ? req.result : undefined); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      };
    });
  }
  function load() { return store("readonly", function (s) { return s.getAll(); }).catch(function () { return []; }); }
  function keep(d) { return store("readwrite", function (s) { return s.put(d); }); }
  function drop(id) { return store("readwrite", function (s) { return s.delete(id); }); }

  var form = document.querySelector("form[data-draft]");
  var box = document.getElementById("drafts");
  var listEl = document.getElementById("draft-list");

  function show() {
    if (!box || !listEl) return Promise.resolve();
    return load().then(function (drafts) {
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
        small.textContent = d.saved + (d.files.length && form ? " · " + form.getAttribute("data-photos-text") + " " + d.files.length : "");
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
    });
  }

  // Sends one draft as the form would (multipart, photos included); resolves true when the
  // server took it (or had taken it before: the same client_id files nothing twice), false when
  // the network failed (the draft stays), "refused" when a rule was broken.
  function send(d) {
    var body = new FormData();
    // The session's token now (the draft may outlive the session it was typed in).
    var token = document.querySelector("input[name=_csrf]");
    d.fields.forEach(function (f) { body.append(f[0], f[0] === "_csrf" && token ? token.value : f[1]); });
    d.files.forEach(function (f) { body.append(f[0], f[1], f[2]); });
    return fetch("/day/log", { method: "POST", credentials: "same-origin", body: body }).then(function (r) {
      if (r.redirected && r.url.indexOf("/login") !== -1) return false;
      if (r.ok) return true;
      // Refused: show the server's page with what was typed and why.
      return r.text().then(function (html) {
        document.open(); document.write(html); document.close();
        return "refused";
      });
    }, function () { return false; });
  }

  var sending = false;
  function sendAll() {
    if (sending || !online()) return;
    sending = true;
    load().then(function (drafts) {
      var next = function (i) {
        if (i >= drafts.length) { sending = false; show(); return; }
        var d = drafts[i];
        send(d).then(function (ok) {
          if (ok === "refused") { sending = false; return drop(d.id); }
          if (ok !== true) return next(i + 1);
          drop(d.id).then(load).then(function (left) {
            if (left.length === 0) { location.href = "/day?done=log"; return; }
            next(i + 1);
          });
        });
      };
      next(0);
    });
  }

  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var fields = [], files = [];
      new FormData(form).forEach(function (v, k) {
        if (typeof v === "string") fields.push([k, v]);
        else if (v.size > 0) files.push([k, v, v.name]);
      });
      var id = form.querySelector("[name=client_id]").value;
      var title = document.querySelector("main h1");
      var draft = { id: id, fields: fields, files: files, label: title ? title.textContent : id, saved: new Date().toLocaleString(document.documentElement.lang || undefined) };
      // Kept first, so that nothing typed is lost if the page dies while sending.
      keep(draft).then(show).then(function () {
        if (box) box.scrollIntoView();
        if (!online()) return;
        send(draft).then(function (ok) {
          if (ok === true) drop(id).then(function () { location.href = "/day?done=log"; });
          else if (ok === "refused") drop(id);
          else show();
        });
      });
    });
    var again = document.getElementById("send-drafts");
    if (again) again.addEventListener("click", sendAll);
    show().then(sendAll);
  }

  // The residents register as suggestions for a request's resident, fetched once when a name
  // field is first used (typing a name not in the register is a new resident).
  document.querySelectorAll("input[data-register]").forEach(function (input) {
    input.addEventListener("focus", function () {
      var list = document.getElementById(input.getAttribute("list"));
      if (!list || list.getAttribute("data-loaded")) return;
      list.setAttribute("data-loaded", "1");
      fetch(input.getAttribute("data-register"), { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.json() : [];
      }).then(function (items) {
        items.forEach(function (it) {
          var o = document.createElement("option");
          o.value = it.value;
          o.label = it.label;
          list.appendChild(o);
        });
      }, function () { list.removeAttribute("data-loaded"); });
    });
  });

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
