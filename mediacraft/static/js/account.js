/* The "My data" page: a device link with its QR code, and deleting everything about me. */
(function () {
  "use strict";

  var block = document.getElementById("i18n");
  var T = (block ? JSON.parse(block.textContent) : {}).account || {};

  function $(id) {
    return document.getElementById(id);
  }

  function say(text) {
    var box = $("a-message");
    box.textContent = text;
    box.hidden = !text;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (envelope) {
        if (!envelope.success) throw new Error(envelope.message || T.failed);
        return envelope.data;
      });
    });
  }

  $("a-link").addEventListener("click", function () {
    say("");
    post("/api/user/device-link").then(function (link) {
      $("a-qr").src = link.qr;
      $("a-link-url").value = link.url;
      $("a-link-help").textContent = T.link_ready;
      $("a-link-box").hidden = false;
      $("a-link-url").select();
    }, function (error) {
      say(error.message || T.failed);
    });
  });

  $("a-delete").addEventListener("click", function () {
    if (!window.confirm(T.confirm_delete)) return;
    post("/api/user/delete", { confirm: true }).then(function () {
      say(T.deleted);
      window.location.assign("/tasks");
    }, function (error) {
      say(error.message || T.failed);
    });
  });
})();
