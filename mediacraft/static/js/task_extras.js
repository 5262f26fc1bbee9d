/* One task's page, beyond its progress: the player's poster and resuming where the visitor
   stopped (remembered per result in this browser), tags, and share links of the result. */
import { MC } from "./common.js";

(function () {
  "use strict";
  var block = document.getElementById("i18n-extra");
  var X = block ? JSON.parse(block.textContent) : {};
  var task = JSON.parse(document.getElementById("task-data").textContent);
  var taskId = task.task_id;
  var base = "/api/tasks/" + encodeURIComponent(taskId);

  function $(id) {
    return document.getElementById(id);
  }

  /* --- player: poster and resume ---------------------------------------------------- */
  var video = $("t-video");
  function positionKey(t) {
    return "mc-pos:" + t.task_id + ":" + (t.completed_at || "");
  }
  function applyPoster(t) {
    if (video && t.poster_url && video.getAttribute("poster") !== t.poster_url) {
      video.setAttribute("poster", t.poster_url);
    }
  }
  applyPoster(task);
  if (video) {
    var lastSaved = 0;
    video.addEventListener("loadedmetadata", function () {
      MC.api("GET", base + "/status").then(function (fresh) {
        task = fresh;
        applyPoster(fresh);
        var saved = parseFloat(localStorage.getItem(positionKey(fresh)) || "");
        if (saved > 1 && saved < video.duration - 1) {
          video.currentTime = saved;
          video.dataset.resumedAt = String(saved);
          MC.showMessage($("t-message"), MC.fmt(X.resumed_at, { time: MC.formatDuration(saved) }), "info");
        }
      }, function () {});
    });
    video.addEventListener("timeupdate", function () {
      var now = Date.now();
      if (now - lastSaved < 1000 || !task.completed_at) return;
      lastSaved = now;
      try {
        localStorage.setItem(positionKey(task), String(video.currentTime));
      } catch (e) {
        /* storage full or disabled: playback simply starts at the beginning next time */
      }
    });
    video.addEventListener("ended", function () {
      localStorage.removeItem(positionKey(task));
    });
  }

  /* --- tags ---------------------------------------------------------------------------- */
  function renderTags(tags) {
    var list = $("t-tags");
    list.textContent = "";
    (tags || []).forEach(function (tag) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.className = "tag";
      link.href = "/tasks?tag=" + encodeURIComponent(tag);
      link.textContent = tag;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "tag-remove";
      remove.textContent = "\u00D7";
      remove.setAttribute("aria-label", MC.fmt(X.remove_tag, { tag: tag }));
      remove.addEventListener("click", function () {
        MC.api("DELETE", base + "/tags/" + encodeURIComponent(tag)).then(function (fresh) {
          renderTags(fresh.tags);
        }, function (error) {
          MC.showError($("t-tag-message"), error);
        });
      });
      li.appendChild(link);
      li.appendChild(remove);
      list.appendChild(li);
    });
  }
  renderTags(task.tags);
  $("t-tag-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("t-tag-input");
    var value = input.value.trim();
    if (!value) return;
    MC.api("POST", base + "/tags", { tag: value }).then(function (fresh) {
      input.value = "";
      $("t-tag-message").hidden = true;
      renderTags(fresh.tags);
    }, function (error) {
      MC.showError($("t-tag-message"), error);
    });
  });

  /* --- share links ------------------------------------------------------------------- */
  function renderShares(shares) {
    var list = $("t-shares");
    list.textContent = "";
    if (!shares.length) {
      var none = document.createElement("li");
      none.className = "note";
      none.textContent = X.share_none;
      list.appendChild(none);
    }
    shares.forEach(function (share) {
      var li = document.createElement("li");
      li.dataset.shareId = share.share_id;
      var field = document.createElement("input");
      field.type = "url";
      field.readOnly = true;
      field.value = share.url;
      field.className = "share-url";
      field.setAttribute("aria-label", X.share);
      var expires = document.createElement("span");
      expires.className = "note";
      expires.textContent = MC.fmt(X.share_expires, { date: MC.formatDate(share.expires_at) });
      var copy = document.createElement("button");
      copy.type = "button";
      copy.className = "button small";
      copy.textContent = X.copy;
      copy.addEventListener("click", function () {
        field.select();
        var done = function () {
          MC.showMessage($("t-share-message"), X.copied, "success");
        };
        if (navigator.clipboard) navigator.clipboard.writeText(share.url).then(done, done);
        else done();
      });
      var revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "button small danger";
      revoke.textContent = X.share_revoke;
      revoke.addEventListener("click", function () {
        MC.api("DELETE", base + "/shares/" + encodeURIComponent(share.share_id)).then(function () {
          MC.showMessage($("t-share-message"), X.share_revoked, "success");
          loadShares();
        }, function (error) {
          MC.showError($("t-share-message"), error);
        });
      });
      li.appendChild(field);
      li.appendChild(expires);
      li.appendChild(copy);
      li.appendChild(revoke);
      list.appendChild(li);
    });
  }
  function loadShares() {
    return MC.api("GET", base + "/shares").then(function (data) {
      renderShares(data.shares);
    }, function () {});
  }
  function showShare(t) {
    var completed = t.status === "completed";
    $("t-share").hidden = !completed;
    if (completed && !$("t-share").dataset.loaded) {
      $("t-share").dataset.loaded = "1";
      loadShares();
    }
  }
  showShare(task);
  if (MC.observeTask) {
    var observe = MC.observeTask;
    MC.observeTask = function (t) {
      observe(t);
      if (t.task_id === taskId) showShare(t);
    };
  }
  $("t-share-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var seconds = parseInt($("t-share-expiry").value, 10);
    MC.api("POST", base + "/shares", { expires_in: seconds }).then(function () {
      MC.showMessage($("t-share-message"), X.share_created, "success");
      loadShares();
    }, function (error) {
      MC.showError($("t-share-message"), error);
    });
  });
})();
