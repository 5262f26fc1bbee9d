/* One task: live progress, error with a hint, result player, actions. */
(function () {
  "use strict";
  var MC = window.MC;
  var T = MC.T;

  function $(id) {
    return document.getElementById(id);
  }

  var root = $("task");
  var taskId = root.dataset.taskId;
  var message = $("t-message");
  var watcher = null;
  var shownResult = false;

  function show(task) {
    var status = $("t-status");
    status.textContent = MC.label("status", task.status);
    status.dataset.status = task.status;
    root.dataset.status = task.status;
    var value = task.status === "completed" ? 100 : Number(task.progress) || 0;
    $("t-progress").value = value;
    $("t-percent").textContent = Math.floor(value) + "%";

    var d = task.progress_detail || {};
    var running = task.status === "processing";
    $("t-stage").textContent = MC.label("stage", task.stage) || "–";
    $("t-speed").textContent = running && d.speed ? MC.formatBytes(d.speed) + "/s" : "–";
    $("t-eta").textContent = running && d.eta !== null && d.eta !== undefined ? MC.formatDuration(d.eta) : "–";
    $("t-segments").textContent = d.segments_total ? (d.segments_done || 0) + " / " + d.segments_total : "–";
    var bytes = d.bytes_done || (task.result && task.result.size);
    $("t-bytes").textContent = bytes
      ? MC.formatBytes(bytes) + (d.bytes_total && task.status !== "completed" ? " / " + MC.formatBytes(d.bytes_total) : "")
      : "–";
    $("t-queue").textContent = task.status === "queued" && task.queue_position ? String(task.queue_position) : "–";
    $("t-created").textContent = MC.formatDate(task.created_at);
    $("t-completed").textContent = MC.formatDate(task.completed_at);

    var errorBox = $("t-error");
    if (task.status === "failed") {
      errorBox.querySelector(".error-message").textContent = task.error_message || "";
      errorBox.querySelector(".error-hint").textContent = MC.hintFor(task.error_message);
      errorBox.hidden = false;
    } else {
      errorBox.hidden = true;
    }

    var completed = task.status === "completed" && task.download_url;
    $("t-download").hidden = !completed;
    if (completed) $("t-download").href = task.download_url;
    if (completed && !shownResult) {
      shownResult = true;
      var video = $("t-video");
      video.src = task.download_url;
      var r = task.result || {};
      var info = [];
      if (r.width) info.push(r.width + "×" + r.height);
      if (r.duration) info.push(MC.formatDuration(r.duration));
      if (r.size) info.push(MC.formatBytes(r.size));
      $("t-result").querySelector(".result-info").textContent = info.join(" · ");
      $("t-result").hidden = false;
    }
    $("t-cancel").hidden = MC.isTerminal(task.status);
    $("t-retry").hidden = !(task.status === "failed" || task.status === "cancelled");
    $("t-delete").hidden = task.status === "processing";
  }

  function watch() {
    if (watcher) watcher.stop();
    watcher = MC.watchTask(taskId, show, {
      onGone: function () {
        window.location.href = "/tasks";
      },
    });
  }

  function act(action) {
    var request =
      action === "delete"
        ? MC.api("DELETE", "/api/tasks/" + encodeURIComponent(taskId))
        : MC.api("POST", "/api/tasks/" + encodeURIComponent(taskId) + "/" + action);
    return request.then(
      function (task) {
        if (action === "delete") {
          window.location.href = "/tasks";
          return;
        }
        MC.showMessage(message, action === "cancel" ? T.cancelled : T.retried, "success");
        show(task);
        if (action === "retry") {
          shownResult = false;
          $("t-result").hidden = true;
        }
        watch();
      },
      function (error) {
        MC.showError(message, error);
      }
    );
  }

  $("t-cancel").addEventListener("click", function () {
    if (window.confirm(T.confirm_cancel)) act("cancel");
  });
  $("t-retry").addEventListener("click", function () {
    act("retry");
  });
  $("t-delete").addEventListener("click", function () {
    if (window.confirm(T.confirm_delete)) act("delete");
  });
  window.addEventListener("pagehide", function () {
    if (watcher) watcher.stop();
  });

  var initial = JSON.parse($("task-data").textContent);
  show(initial);
  if (!MC.isTerminal(initial.status)) watch();
})();
