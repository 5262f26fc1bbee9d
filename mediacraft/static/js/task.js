/* One task: live progress, error with a hint, result player, actions, the task's log. */
import { MC } from "./common.js";

const T = MC.T;

function $(id) {
  return document.getElementById(id);
}

const root = $("task");
const taskId = root.dataset.taskId;
const message = $("t-message");
let watcher = null;
let shownResult = false;
let logTimer = null;
let logShown = -1;

function show(task) {
  const status = $("t-status");
  status.textContent = MC.label("status", task.status);
  status.dataset.status = task.status;
  root.dataset.status = task.status;
  const value = task.status === "completed" ? 100 : Number(task.progress) || 0;
  $("t-progress").value = value;
  $("t-percent").textContent = Math.floor(value) + "%";

  const d = task.progress_detail || {};
  const running = task.status === "processing";
  $("t-stage").textContent = MC.label("stage", task.stage) || "–";
  $("t-speed").textContent = running && d.speed ? MC.formatBytes(d.speed) + "/s" : "–";
  $("t-eta").textContent = running && d.eta !== null && d.eta !== undefined ? MC.formatDuration(d.eta) : "–";
  $("t-segments").textContent = d.segments_total ? (d.segments_done || 0) + " / " + d.segments_total : "–";
  const bytes = d.bytes_done || (task.result && task.result.size);
  $("t-bytes").textContent = bytes
    ? MC.formatBytes(bytes) + (d.bytes_total && task.status !== "completed" ? " / " + MC.formatBytes(d.bytes_total) : "")
    : "–";
  $("t-queue").textContent = task.status === "queued" && task.queue_position ? String(task.queue_position) : "–";
  const live = running && d.live;
  const recorded = d.recorded_seconds;
  $("t-recorded-fact").hidden = !(live || (task.result && task.result.live));
  if (live) {
    $("t-recorded").textContent =
      MC.formatDuration(recorded || 0) + (d.record_seconds ? " / " + MC.formatDuration(d.record_seconds) : "");
  } else if (task.result && task.result.live) {
    $("t-recorded").textContent = MC.formatDuration(task.result.live.recorded_seconds || 0);
  }
  $("t-created").textContent = MC.formatDate(task.created_at);
  $("t-completed").textContent = MC.formatDate(task.completed_at);

  const errorBox = $("t-error");
  if (task.status === "failed") {
    errorBox.querySelector(".error-message").textContent = task.error_message || "";
    errorBox.querySelector(".error-hint").textContent = MC.hintFor(task);
    errorBox.hidden = false;
  } else {
    errorBox.hidden = true;
  }

  const completed = task.status === "completed" && task.download_url;
  $("t-download").hidden = !completed;
  if (completed) $("t-download").href = task.download_url;
  if (completed && !shownResult) {
    shownResult = true;
    const video = $("t-video");
    video.src = task.download_url;
    const r = task.result || {};
    const info = [];
    if (r.width) info.push(r.width + "×" + r.height);
    if (r.duration) info.push(MC.formatDuration(r.duration));
    if (r.size) info.push(MC.formatBytes(r.size));
    $("t-result").querySelector(".result-info").textContent = info.join(" · ");
    showTracks(r);
    $("t-result").hidden = false;
  }
  $("t-stop").hidden = !live;
  $("t-cancel").hidden = MC.isTerminal(task.status);
  $("t-retry").hidden = !(task.status === "failed" || task.status === "cancelled");
  $("t-delete").hidden = task.status === "processing";
}

function showTracks(r) {
  const tracks = r.tracks || [];
  const parts = [];
  ["audio", "subtitles"].forEach(function (type) {
    const langs = tracks
      .filter(function (t) {
        return t.type === type;
      })
      .map(function (t) {
        return t.language || T.language_unknown;
      });
    if (langs.length) parts.push((type === "audio" ? T.audio_tracks : T.subtitle_tracks) + ": " + langs.join(", "));
  });
  $("t-tracks").textContent = parts.join(" · ");
  $("t-tracks").hidden = !parts.length;
  const gaps = r.gaps || [];
  if (gaps.length) {
    const missing = gaps.reduce(function (sum, g) {
      return sum + (g.segments || 0);
    }, 0);
    $("t-gaps").textContent = MC.fmt(T.gaps, { count: gaps.length, segments: missing });
  }
  $("t-gaps").hidden = !gaps.length;
  let list = $("t-files");
  list.textContent = "";
  (r.files || []).forEach(function (name) {
    let item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "/api/tasks/" + encodeURIComponent(taskId) + "/download?file=" + encodeURIComponent(name);
    link.textContent = name;
    link.setAttribute("download", "");
    item.appendChild(link);
    list.appendChild(item);
  });
  list.hidden = !(r.files && r.files.length);
}

function showLog(data) {
  const lines = (data && data.lines) || [];
  if (lines.length === logShown) return;
  logShown = lines.length;
  let list = $("t-log");
  list.textContent = "";
  lines.forEach(function (line) {
    let item = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = line.at;
    time.textContent = MC.formatDate(line.at);
    item.appendChild(time);
    item.appendChild(document.createTextNode(line.message));
    list.appendChild(item);
  });
  $("t-log-empty").hidden = lines.length > 0;
}

/* The log is extra: a failed load leaves the last one shown. */
async function loadLog() {
  let data;
  try {
    data = await MC.api("GET", "/api/tasks/" + encodeURIComponent(taskId) + "/log");
  } catch (error) {
    return;
  }
  showLog(data);
}

function followLog(status) {
  if (logTimer) window.clearTimeout(logTimer);
  logTimer = null;
  loadLog();
  if (!MC.isTerminal(status)) {
    logTimer = window.setTimeout(function () {
      followLog(root.dataset.status);
    }, 3000);
  }
}

function watch() {
  if (watcher) watcher.stop();
  watcher = MC.watchTask(taskId, function (task) {
    const was = root.dataset.status;
    show(task);
    if (MC.isTerminal(task.status) && !MC.isTerminal(was)) followLog(task.status);
  }, {
    onGone: function () {
      window.location.href = "/tasks";
    },
  });
}

async function act(action) {
  let task;
  try {
    task =
      action === "delete"
        ? await MC.api("DELETE", "/api/tasks/" + encodeURIComponent(taskId))
        : await MC.api("POST", "/api/tasks/" + encodeURIComponent(taskId) + "/" + action);
  } catch (error) {
    MC.showError(message, error);
    return;
  }
  if (action === "delete") {
    window.location.href = "/tasks";
    return;
  }
  const done = { cancel: T.cancelled, retry: T.retried, stop: T.stopping };
  MC.showMessage(message, done[action], "success");
  show(task);
  if (action === "retry") {
    shownResult = false;
    $("t-result").hidden = true;
  }
  watch();
}

$("t-stop").addEventListener("click", function () {
  if (window.confirm(T.confirm_stop)) act("stop");
});
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
  if (logTimer) window.clearTimeout(logTimer);
});

const initial = JSON.parse($("task-data").textContent);
show(initial);
followLog(initial.status);
if (!MC.isTerminal(initial.status)) watch();
