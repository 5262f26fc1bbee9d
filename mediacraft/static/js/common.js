/* MediaCraft pages: shared helpers (strings, API calls, formatting, live task updates). */

const dataBlock = document.getElementById("i18n");
const T = dataBlock ? JSON.parse(dataBlock.textContent) : {};
const LANG = document.documentElement.lang || "en";
const TERMINAL = { completed: true, failed: true, cancelled: true };

function fmt(text, vars) {
  return String(text).replace(/\{(\w+)\}/g, function (whole, key) {
    return vars && Object.prototype.hasOwnProperty.call(vars, key) ? String(vars[key]) : whole;
  });
}

/* An /api error: its HTTP status, the server's (English) message, and data.reason,
   the stable word the page picks its translated text by. */
function ApiError(code, message, reason) {
  this.code = code;
  this.message = message || "";
  this.reason = reason || "";
}

/* One /api call: the envelope's data, or an ApiError (code 0: the server was not
   reached; a body that is not JSON keeps the HTTP status alone). */
async function api(method, url, body) {
  const options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (e) {
    throw new ApiError(0, "");
  }
  let envelope;
  try {
    envelope = await response.json();
  } catch (e) {
    throw new ApiError(response.status, "");
  }
  if (!envelope || !envelope.success) {
    const reason = envelope && envelope.data ? envelope.data.reason : "";
    throw new ApiError(response.status, envelope && envelope.message, reason);
  }
  return envelope.data;
}

/* A server error in the visitor's language: the text for its reason, else a line for
   its status code; the server's own (English) message follows as details. */
function errorText(error) {
  const errors = T.errors || {};
  if (!(error instanceof ApiError)) {
    return { text: errors.generic, details: error && error.message ? String(error.message) : "" };
  }
  if (error.code === 0) {
    return { text: errors.network, details: "" };
  }
  const message = error.message || "";
  const reasons = T.reasons || {};
  if (error.reason && Object.prototype.hasOwnProperty.call(reasons, error.reason)) {
    return { text: reasons[error.reason], details: message };
  }
  const line = errors[String(error.code)] || (error.code >= 500 ? errors["500"] : errors.generic);
  return { text: line, details: message };
}

function showMessage(el, text, kind, details) {
  if (!el) return;
  el.textContent = "";
  el.className = "message" + (kind ? " " + kind : "");
  if (!text) {
    el.hidden = true;
    return;
  }
  el.appendChild(document.createTextNode(text));
  if (details) {
    const small = document.createElement("span");
    small.className = "details";
    small.lang = "en";
    small.textContent = " " + (T.errors ? T.errors.details : "") + " " + details;
    el.appendChild(small);
  }
  el.hidden = false;
}

function showError(el, error) {
  const e = errorText(error);
  showMessage(el, e.text, "error", e.details);
}

function formatBytes(n) {
  if (n === null || n === undefined || isNaN(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  n = Number(n);
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return fmt(T.seconds, { n: s });
  if (s < 3600) return fmt(T.minutes, { m: Math.floor(s / 60), s: s % 60 });
  return fmt(T.hours, { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

function formatDate(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (isNaN(date.getTime())) return iso;
  try {
    return date.toLocaleString(LANG);
  } catch (e) {
    return date.toLocaleString();
  }
}

function label(group, value) {
  const table = T[group] || {};
  return table[value] || "";
}

/* The hint under a failed task, chosen by the task's error_reason. */
function hintFor(task) {
  const hints = T.hints || {};
  let reason = task && task.error_reason;
  if (reason && Object.prototype.hasOwnProperty.call(hints, reason)) return hints[reason];
  return hints.generic;
}

/* Follow tasks over the visitor's one event stream (/api/events), falling back to
   polling their status when the server refuses the stream (429: too many open) or it
   keeps failing. Stops by itself once every task has ended. */
function watchTasks(taskIds, onUpdate, options) {
  options = options || {};
  let stopped = false;
  let source = null;
  let timer = null;
  let failures = 0;
  let streamErrors = 0;
  const interval = options.interval || 2000;
  const pending = {};
  taskIds.forEach(function (id) {
    pending[id] = true;
  });

  function stop() {
    stopped = true;
    if (source) source.close();
    source = null;
    if (timer) clearTimeout(timer);
  }

  function settle(id) {
    delete pending[id];
    if (!Object.keys(pending).length) stop();
  }

  function deliver(task) {
    if (stopped || !pending[task.task_id]) return;
    onUpdate(task);
    if (TERMINAL[task.status]) settle(task.task_id);
  }

  function gone(id) {
    if (stopped || !pending[id]) return;
    settle(id);
    if (options.onGone) options.onGone(id);
  }

  async function pollOne(id) {
    let task;
    try {
      task = await api("GET", "/api/tasks/" + encodeURIComponent(id) + "/status");
    } catch (error) {
      if (error && error.code === 404) gone(id);
      else failures += 1;
      return;
    }
    failures = 0;
    deliver(task);
  }

  async function poll() {
    timer = null;
    if (stopped) return;
    await Promise.all(Object.keys(pending).map(pollOne));
    if (!stopped) timer = setTimeout(poll, Math.min(30000, interval * (1 + failures)));
  }

  function fallBack() {
    if (source) source.close();
    source = null;
    if (!stopped && !timer) poll();
  }

  if (window.EventSource && !options.pollOnly) {
    const url = "/api/events?task_id=" + taskIds.map(encodeURIComponent).join(",");
    source = new EventSource(url);
    source.addEventListener("task", function (event) {
      streamErrors = 0;
      try {
        deliver(JSON.parse(event.data));
      } catch (e) {
        /* ignore a malformed event */
      }
    });
    source.addEventListener("gone", function (event) {
      try {
        gone(JSON.parse(event.data).task_id);
      } catch (e) {
        /* ignore a malformed event */
      }
    });
    source.onerror = function () {
      if (stopped) return;
      streamErrors += 1;
      /* CLOSED: refused (429) or not a stream; CONNECTING: the browser retries,
         which is fine after the server's periodic end, not when it keeps failing. */
      if (!source || source.readyState === EventSource.CLOSED || streamErrors > 3) fallBack();
    };
  } else {
    poll();
  }
  return { stop: stop };
}

/* Follow one task (see watchTasks); options.onGone is called when it is deleted. */
function watchTask(taskId, onUpdate, options) {
  options = options || {};
  return watchTasks([taskId], onUpdate, {
    interval: options.interval,
    pollOnly: options.pollOnly,
    onGone: options.onGone
      ? function () {
          options.onGone();
        }
      : null,
  });
}

/* Upload files with XMLHttpRequest so the page can show upload progress. */
function upload(taskId, files, onProgress) {
  return new Promise(function (resolve, reject) {
    const form = new FormData();
    for (let i = 0; i < files.length; i++) form.append("file", files[i], files[i].name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/tasks/" + encodeURIComponent(taskId) + "/upload");
    xhr.responseType = "json";
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.upload.addEventListener("load", function () {
      if (onProgress) onProgress(1, true);
    });
    xhr.addEventListener("load", function () {
      const body = xhr.response;
      if (xhr.status < 400 && body && body.success) resolve(body.data);
      else reject(new ApiError(xhr.status, body && body.message));
    });
    xhr.addEventListener("error", function () {
      reject(new ApiError(0, ""));
    });
    xhr.send(form);
  });
}

function setBusy(button, busy) {
  if (!button) return;
  button.disabled = !!busy;
  button.setAttribute("aria-busy", busy ? "true" : "false");
}

export const MC = {
  T: T,
  lang: LANG,
  fmt: fmt,
  api: api,
  ApiError: ApiError,
  errorText: errorText,
  showMessage: showMessage,
  showError: showError,
  formatBytes: formatBytes,
  formatDuration: formatDuration,
  formatDate: formatDate,
  label: label,
  hintFor: hintFor,
  watchTask: watchTask,
  watchTasks: watchTasks,
  upload: upload,
  setBusy: setBusy,
  isTerminal: function (status) {
    return !!TERMINAL[status];
  },
};

/* Close the "My" menu when a click or Escape happens elsewhere. */
document.addEventListener("click", function (event) {
  let menus = document.querySelectorAll("details.menu-details[open]");
  for (let i = 0; i < menus.length; i++) {
    if (!menus[i].contains(event.target)) menus[i].open = false;
  }
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  let menus = document.querySelectorAll("details.menu-details[open]");
  for (let i = 0; i < menus.length; i++) {
    menus[i].open = false;
    menus[i].querySelector("summary").focus();
  }
});
