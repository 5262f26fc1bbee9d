/* The task list as a library: each finished task's poster (or an audio icon) with its
   duration, and its tags as links to the list filtered by that tag. tasks.js calls
   MC.decorateTask(item, task) whenever a row is drawn or updated. */
import { MC } from "./common.js";

(function () {
  "use strict";
  var block = document.getElementById("i18n-extra");
  var X = block ? JSON.parse(block.textContent) : {};

  function poster(task) {
    var result = task.result || {};
    var frame = document.createElement("div");
    frame.className = "task-poster";
    if (task.poster_url) {
      var img = document.createElement("img");
      img.src = task.poster_url;
      img.alt = MC.fmt(X.poster_of, { name: task.name || "" });
      img.width = 128;
      img.height = 72;
      img.loading = "lazy";
      frame.appendChild(img);
    } else {
      var icon = document.createElement("span");
      icon.className = "audio-icon";
      icon.setAttribute("role", "img");
      icon.setAttribute("aria-label", X.audio_only);
      icon.textContent = "\u266A";
      frame.appendChild(icon);
    }
    if (result.duration) {
      var badge = document.createElement("span");
      badge.className = "duration-badge";
      badge.textContent = MC.formatDuration(result.duration);
      badge.title = X.duration;
      frame.appendChild(badge);
    }
    return frame;
  }

  function tagList(task) {
    var list = document.createElement("ul");
    list.className = "tag-list";
    list.setAttribute("aria-label", X.tags);
    (task.tags || []).forEach(function (tag) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.className = "tag";
      a.href = "/tasks?tag=" + encodeURIComponent(tag);
      a.textContent = tag;
      li.appendChild(a);
      list.appendChild(li);
    });
    return list;
  }

  MC.decorateTask = function (item, task) {
    var completed = task.status === "completed";
    var key = [task.status, task.poster_url || "", (task.tags || []).join("\u0000")].join("|");
    if (item.dataset.decor === key) return;
    item.dataset.decor = key;
    var old = item.querySelector(".task-poster");
    if (old) old.remove();
    var oldTags = item.querySelector(".tag-list");
    if (oldTags) oldTags.remove();
    var body = item.querySelector(".task-body");
    if (completed && (task.poster_url || (task.result && task.result.has_video === false))) {
      item.insertBefore(poster(task), body);
    }
    if (task.tags && task.tags.length) {
      body.insertBefore(tagList(task), body.querySelector(".task-meta"));
    }
  };
})();
