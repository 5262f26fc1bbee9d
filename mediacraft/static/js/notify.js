/* Opt-in notifications when a followed task completes or fails, and the running task's
   percent in the tab title. It listens to the updates the page already receives (it wraps
   MC.watchTask / MC.watchTasks), so it opens no connection of its own. Permission is asked
   only when the visitor presses the button (#notify-toggle). */
import { MC } from "./common.js";

(function () {
  "use strict";
  var block = document.getElementById("i18n-extra");
  var X = block ? JSON.parse(block.textContent) : {};
  var KEY = "mc-notify";
  var baseTitle = document.title;
  var seen = {}; // task id -> last status
  var running = {}; // task id -> percent

  function supported() {
    return "Notification" in window;
  }

  function enabled() {
    try {
      return supported() && Notification.permission === "granted" && localStorage.getItem(KEY) === "1";
    } catch (e) {
      return false;
    }
  }

  function updateTitle() {
    var ids = Object.keys(running);
    if (!ids.length) {
      document.title = baseTitle;
      return;
    }
    document.title = Math.floor(running[ids[0]]) + "% · " + baseTitle;
  }

  function observe(task) {
    var before = seen[task.task_id];
    seen[task.task_id] = task.status;
    if (task.status === "processing") running[task.task_id] = Number(task.progress) || 0;
    else delete running[task.task_id];
    updateTitle();
    var ended = task.status === "completed" || task.status === "failed";
    if (!ended || !before || MC.isTerminal(before) || !enabled()) return;
    var text = task.status === "completed" ? X.notify_completed : X.notify_failed;
    try {
      new Notification(MC.fmt(text, { name: task.name || task.task_id }), {
        tag: "mediacraft-" + task.task_id,
        lang: MC.lang,
      });
    } catch (e) {
      /* a browser that only notifies from a service worker: the title still tells */
    }
  }

  function wrap(name) {
    var original = MC[name];
    if (typeof original !== "function") return;
    MC[name] = function (ids, onUpdate, options) {
      return original(ids, function (task) {
        MC.observeTask(task); // pages may extend it to follow the same updates
        onUpdate(task);
      }, options);
    };
  }
  wrap("watchTask");
  wrap("watchTasks");
  MC.observeTask = observe;

  function setButton(button, note) {
    button.textContent = enabled() ? X.notify_off : X.notify_on;
    button.setAttribute("aria-pressed", enabled() ? "true" : "false");
    if (note !== undefined) {
      var box = document.getElementById("notify-note");
      if (box) {
        box.textContent = note;
        box.hidden = !note;
      }
    }
  }

  var button = document.getElementById("notify-toggle");
  if (!button) return;
  button.hidden = false;
  setButton(button);
  button.addEventListener("click", function () {
    if (!supported()) {
      setButton(button, X.notify_unsupported);
      return;
    }
    if (enabled()) {
      localStorage.removeItem(KEY);
      setButton(button, "");
      return;
    }
    Promise.resolve(Notification.requestPermission()).then(function (permission) {
      if (permission === "granted") {
        localStorage.setItem(KEY, "1");
        setButton(button, X.notify_enabled);
      } else {
        setButton(button, X.notify_denied);
      }
    });
  });
})();
