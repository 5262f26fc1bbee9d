/* My tasks: list, filters, pagination, live progress, actions. */
import { MC } from "./common.js";

const T = MC.T;
const PER_PAGE = 20;

function $(id) {
  return document.getElementById(id);
}

const params = new URLSearchParams(window.location.search);
const state = {
  page: Math.max(1, parseInt(params.get("page") || "1", 10) || 1),
  pages: 1,
  tasks: [],
  watcher: null,
  highlight: params.get("created"),
};
const list = $("task-list");
const message = $("list-message");

/* Every filter of the form (status, type, resolution, duration, tag, sort, search), so a
   filtered view is in the URL and can be bookmarked; the default sort is left out. */
function query() {
  const q = new URLSearchParams();
  Array.prototype.forEach.call($("filters").elements, function (field) {
    const value = field.name ? String(field.value || "").trim() : "";
    if (value && !(field.name === "sort" && value === "-created_at")) q.set(field.name, value);
  });
  return q;
}

function syncUrl() {
  let q = query();
  if (state.page > 1) q.set("page", String(state.page));
  const text = q.toString();
  if (history.replaceState) history.replaceState(null, "", "/tasks" + (text ? "?" + text : ""));
}

/* Loads can overlap (an action's reload while another is on its way); only the
   newest one renders, or an older answer could put back a state already left
   (a "cancelled" list after the retry) and stop the live updates. */
let loads = 0;

async function load() {
  let q = query();
  q.set("page", String(state.page));
  q.set("per_page", String(PER_PAGE));
  list.setAttribute("aria-busy", "true");
  const mine = ++loads;
  let data;
  try {
    data = await MC.api("GET", "/api/user/tasks?" + q.toString());
  } catch (error) {
    if (mine !== loads) return;
    list.setAttribute("aria-busy", "false");
    MC.showError(message, error);
    return;
  }
  if (mine !== loads) return;
  list.setAttribute("aria-busy", "false");
  state.pages = Math.max(1, data.pagination.pages);
  if (state.page > state.pages && data.pagination.total > 0) {
    state.page = state.pages;
    return load();
  }
  render(data.tasks, data.pagination);
}

function filtered() {
  const q = query();
  q.delete("sort");
  return q.toString() !== "";
}

function render(tasks, pagination) {
  stopWatching();
  state.tasks = tasks;
  list.textContent = "";
  tasks.forEach(function (task) {
    list.appendChild(row(task));
  });
  const empty = $("empty");
  empty.textContent = filtered() ? T.no_match : T.no_tasks;
  empty.hidden = tasks.length > 0;
  document.querySelector(".total").textContent = MC.fmt(T.total, { total: pagination.total });
  $("page-info").textContent = MC.fmt(T.page_of, { page: pagination.page, pages: state.pages });
  $("prev-page").disabled = state.page <= 1;
  $("next-page").disabled = state.page >= state.pages;
  $("select-all").checked = false;
  updateBulk();
  watchActive();
}

function row(task) {
  let item = document.createElement("li");
  item.className = "task-item";
  item.dataset.taskId = task.task_id;
  if (task.task_id === state.highlight) item.classList.add("highlight");

  const check = document.createElement("input");
  check.type = "checkbox";
  check.className = "task-check";
  check.value = task.task_id;
  check.setAttribute("aria-label", MC.fmt(T.select_task, { name: task.name }));
  check.addEventListener("change", updateBulk);

  const head = document.createElement("div");
  head.className = "task-head";
  const link = document.createElement("a");
  link.className = "task-name";
  link.href = "/tasks/" + encodeURIComponent(task.task_id);
  link.textContent = task.name || MC.label("type", task.task_type);
  let badge = document.createElement("span");
  badge.className = "badge";
  head.appendChild(link);
  head.appendChild(badge);

  const meta = document.createElement("p");
  meta.className = "task-meta";

  let bar = document.createElement("progress");
  bar.max = 100;
  bar.setAttribute("aria-label", MC.fmt(T.progress_of, { name: task.name }));
  const percent = document.createElement("span");
  percent.className = "percent";
  const progress = document.createElement("div");
  progress.className = "task-progress";
  progress.appendChild(bar);
  progress.appendChild(percent);

  const detail = document.createElement("p");
  detail.className = "task-detail-line";

  let actions = document.createElement("div");
  actions.className = "actions";

  const body = document.createElement("div");
  body.className = "task-body";
  body.appendChild(head);
  body.appendChild(meta);
  body.appendChild(progress);
  body.appendChild(detail);
  body.appendChild(actions);

  item.appendChild(check);
  item.appendChild(body);
  update(item, task);
  return item;
}

function button(text, className, onClick, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "button small " + (className || "");
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function detailLine(task) {
  const d = task.progress_detail || {};
  const parts = [];
  const stage = MC.label("stage", task.stage);
  if (task.status === "processing" && stage) parts.push(stage);
  if (task.status === "queued" && task.queue_position) {
    parts.push(T.queue_position + ": " + task.queue_position);
  }
  if (task.status === "processing") {
    if (d.speed) parts.push(T.speed + ": " + MC.formatBytes(d.speed) + "/s");
    if (d.eta !== null && d.eta !== undefined) parts.push(T.eta + ": " + MC.formatDuration(d.eta));
    if (d.segments_total) parts.push(T.segments + ": " + (d.segments_done || 0) + "/" + d.segments_total);
  }
  if (task.status === "completed" && task.result && task.result.size) {
    parts.push(T.size + ": " + MC.formatBytes(task.result.size));
  }
  if (task.status === "failed") {
    parts.push(MC.hintFor(task));
  }
  return parts.join(" · ");
}

function update(item, task) {
  const previous = item.dataset.status;
  item.dataset.status = task.status;
  let badge = item.querySelector(".badge");
  badge.textContent = MC.label("status", task.status);
  badge.dataset.status = task.status;
  item.querySelector(".task-meta").textContent =
    MC.label("type", task.task_type) + " · " + T.created_at + " " + MC.formatDate(task.created_at);
  let bar = item.querySelector("progress");
  const value = task.status === "completed" ? 100 : Number(task.progress) || 0;
  bar.value = value;
  item.querySelector(".percent").textContent = Math.floor(value) + "%";
  item.querySelector(".task-detail-line").textContent = detailLine(task);
  if (MC.decorateTask) MC.decorateTask(item, task);
  if (previous === task.status && item.dataset.rendered) return;
  item.dataset.rendered = "1";

  let actions = item.querySelector(".actions");
  actions.textContent = "";
  const name = task.name || "";
  if (task.status === "completed" && task.download_url) {
    const a = document.createElement("a");
    a.className = "button small primary";
    a.href = task.download_url;
    a.setAttribute("download", "");
    a.textContent = T.download;
    actions.appendChild(a);
  }
  if (!MC.isTerminal(task.status)) {
    actions.appendChild(button(T.cancel, "", function () {
      act(task.task_id, "cancel");
    }, T.cancel + " " + name));
  }
  if (task.status === "failed" || task.status === "cancelled") {
    actions.appendChild(button(T.retry, "", function () {
      act(task.task_id, "retry");
    }, T.retry + " " + name));
  }
  if (task.status !== "processing") {
    actions.appendChild(button(T.delete, "danger", function () {
      if (window.confirm(T.confirm_delete)) act(task.task_id, "delete");
    }, T.delete + " " + name));
  }
}

async function act(taskId, action) {
  try {
    if (action === "delete") await MC.api("DELETE", "/api/tasks/" + encodeURIComponent(taskId));
    else await MC.api("POST", "/api/tasks/" + encodeURIComponent(taskId) + "/" + action);
  } catch (error) {
    MC.showError(message, error);
    load();
    return;
  }
  MC.showMessage(message, action === "delete" ? T.deleted : action === "cancel" ? T.cancelled : T.retried, "success");
  load();
}

function updateBulk() {
  const checked = list.querySelectorAll(".task-check:checked").length;
  $("delete-selected").disabled = checked === 0;
}

$("select-all").addEventListener("change", function () {
  const all = this.checked;
  Array.prototype.forEach.call(list.querySelectorAll(".task-check"), function (c) {
    c.checked = all;
  });
  updateBulk();
});

/* One delete after another; the first failure is the one shown. */
$("delete-selected").addEventListener("click", async function () {
  const ids = Array.prototype.map.call(list.querySelectorAll(".task-check:checked"), function (c) {
    return c.value;
  });
  if (!ids.length || !window.confirm(T.confirm_delete_selected)) return;
  let failed = null;
  let deleted = 0;
  for (const id of ids) {
    try {
      await MC.api("DELETE", "/api/tasks/" + encodeURIComponent(id));
      deleted += 1;
    } catch (error) {
      failed = failed || error;
    }
  }
  if (failed) MC.showError(message, failed);
  else MC.showMessage(message, MC.fmt(T.deleted_n, { count: deleted }), "success");
  load();
});

/* --- live progress: SSE for a few tasks, polling the page for the others ---------- */
function stopWatching() {
  if (state.watcher) state.watcher.stop();
  state.watcher = null;
}

function itemFor(id) {
  return list.querySelector('[data-task-id="' + id + '"]');
}

/* One event stream for every running or waiting task of the page (the server
   refuses a second one per visitor past its cap; MC.watchTasks then polls). */
function watchActive() {
  const active = state.tasks.filter(function (t) {
    return !MC.isTerminal(t.status) && t.status !== "created" && t.status !== "uploaded";
  });
  if (!active.length) return;
  state.watcher = MC.watchTasks(
    active.map(function (t) {
      return t.task_id;
    }),
    function (fresh) {
      let item = itemFor(fresh.task_id);
      if (item) update(item, fresh);
    },
    { onGone: load }
  );
}

/* --- filters and pages ------------------------------------------------------------ */
$("filters").addEventListener("submit", function (event) {
  event.preventDefault();
  state.page = 1;
  syncUrl();
  load();
});
["f-status", "f-type", "f-resolution", "f-duration", "f-sort"].forEach(function (id) {
  $(id).addEventListener("change", function () {
    state.page = 1;
    syncUrl();
    load();
  });
});
$("prev-page").addEventListener("click", function () {
  if (state.page > 1) {
    state.page -= 1;
    syncUrl();
    load();
  }
});
$("next-page").addEventListener("click", function () {
  if (state.page < state.pages) {
    state.page += 1;
    syncUrl();
    load();
  }
});
window.addEventListener("pagehide", stopWatching);

load();
