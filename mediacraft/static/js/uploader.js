/* Resumable uploads for the create page: MC.upload sends each file in chunks at byte
   offsets (POST /api/tasks/{id}/uploads, then PATCH with Upload-Offset). A dropped
   connection is retried from the offset the server reports; pressing Upload again later
   continues an unfinished file (remembered in this browser). The progress box gets the
   speed and a cancel button, and the upload forms take files dropped on them. */
import { MC } from "./common.js";

(function () {
  "use strict";
  var block = document.getElementById("i18n-extra");
  var X = block ? JSON.parse(block.textContent) : {};
  var MiB = 1024 * 1024;
  var RETRIES = 8;
  var STORE = "mc-uploads";
  /* A cancel by the visitor is answered like an error with its own code (nginx's 499,
     "client closed request"), which the pages' error text then names. */
  var CANCELLED = 499;
  if (MC.T) {
    MC.T.errors = MC.T.errors || {};
    MC.T.errors[String(CANCELLED)] = X.upload_cancelled;
  }

  function chunkSize(size) {
    return Math.min(16 * MiB, Math.max(MiB, Math.ceil(size / 20)));
  }

  function remembered() {
    try {
      return JSON.parse(localStorage.getItem(STORE) || "{}");
    } catch (e) {
      return {};
    }
  }
  function remember(key, value) {
    var all = remembered();
    if (value === null) delete all[key];
    else all[key] = value;
    try {
      localStorage.setItem(STORE, JSON.stringify(all));
    } catch (e) {
      /* without storage an upload still resumes within this page */
    }
  }
  function fileKey(taskId, file) {
    return [taskId, file.name, file.size, file.lastModified].join("|");
  }

  function wait(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  function activeBox() {
    var boxes = document.querySelectorAll(".upload-progress");
    for (var i = 0; i < boxes.length; i++) {
      if (!boxes[i].hidden && !boxes[i].closest("[hidden]")) return boxes[i];
    }
    return null;
  }

  /* the speed line and the cancel button inside the visible progress box */
  function controls(onCancel) {
    var box = activeBox();
    if (!box) return { speed: function () {}, done: function () {} };
    var line = box.querySelector(".upload-speed");
    if (!line) {
      line = document.createElement("span");
      line.className = "upload-speed";
      box.appendChild(line);
    }
    var cancel = box.querySelector(".upload-cancel");
    if (!cancel) {
      cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "button small upload-cancel";
      cancel.textContent = X.upload_cancel;
      box.appendChild(cancel);
    }
    cancel.hidden = false;
    cancel.onclick = onCancel;
    line.textContent = "";
    return {
      speed: function (text) {
        line.textContent = text;
      },
      done: function () {
        cancel.hidden = true;
        cancel.onclick = null;
      },
    };
  }

  function upload(taskId, files, onProgress) {
    var base = "/api/tasks/" + encodeURIComponent(taskId) + "/uploads";
    var total = 0;
    var i;
    for (i = 0; i < files.length; i++) total += files[i].size;
    var sentBefore = 0; // bytes of the files already finished in this call
    var current = null; // the XHR of the chunk in flight
    var cancelled = false;
    var openUpload = null;
    var started = Date.now();
    var startedAt = 0; // bytes already on the server when this call began
    var ui = controls(function () {
      cancelled = true;
      if (current) current.abort();
      if (openUpload) {
        MC.api("DELETE", openUpload.url).then(null, function () {});
        remember(openUpload.key, null);
      }
    });

    function report(doneBytes, finishing) {
      var fraction = total ? Math.min(1, doneBytes / total) : 1;
      if (onProgress) onProgress(fraction, !!finishing);
      var seconds = (Date.now() - started) / 1000;
      var speed = seconds > 0.2 ? (doneBytes - startedAt) / seconds : 0;
      ui.speed(MC.fmt(X.upload_speed, {
        done: MC.formatBytes(doneBytes),
        total: MC.formatBytes(total),
        speed: MC.formatBytes(Math.max(0, speed)),
      }));
    }

    function patch(url, file, offset, end) {
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest();
        current = xhr;
        xhr.open("PATCH", url);
        xhr.responseType = "json";
        xhr.setRequestHeader("Accept", "application/json");
        xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
        xhr.setRequestHeader("Upload-Offset", String(offset));
        xhr.upload.addEventListener("progress", function (event) {
          report(sentBefore + offset + event.loaded, false);
        });
        xhr.addEventListener("load", function () {
          current = null;
          var body = xhr.response;
          if (xhr.status < 400 && body && body.success) resolve(body.data);
          else reject(new MC.ApiError(xhr.status, body && body.message, body && body.data && body.data.reason));
        });
        xhr.addEventListener("error", function () {
          current = null;
          reject(new MC.ApiError(0, ""));
        });
        xhr.addEventListener("abort", function () {
          current = null;
          reject(new MC.ApiError(CANCELLED, ""));
        });
        xhr.send(file.slice(offset, end));
      });
    }

    /* where the server has the upload, once no chunk is being written any more */
    function settledOffset(url, tries) {
      return MC.api("GET", url).then(function (state) {
        if (state.receiving && tries > 0) {
          return wait(500).then(function () {
            return settledOffset(url, tries - 1);
          });
        }
        return state.offset;
      });
    }

    function sendFrom(file, upload, offset, failures) {
      if (cancelled) return Promise.reject(new MC.ApiError(CANCELLED, ""));
      if (offset >= file.size && file.size > 0) return Promise.resolve(null);
      var end = Math.min(file.size, offset + chunkSize(file.size));
      return patch(upload.url, file, offset, end).then(function (state) {
        if (state.complete) return state.task;
        return sendFrom(file, upload, state.offset, 0);
      }, function (error) {
        if (cancelled) throw new MC.ApiError(CANCELLED, "");
        var moved = error.code === 409 && error.reason === "upload_offset";
        var retryable = error.code === 0 || moved || error.code >= 500;
        if (!retryable || failures >= RETRIES) throw error;
        ui.speed(X.upload_retrying);
        return wait(Math.min(8000, 500 * Math.pow(2, failures))).then(function () {
          return settledOffset(upload.url, 40);
        }).then(function (at) {
          return sendFrom(file, upload, at, failures + 1);
        });
      });
    }

    function open(file) {
      var key = fileKey(taskId, file);
      var known = remembered()[key];
      var resume = known && known.url
        ? MC.api("GET", known.url).then(function (state) {
            return { url: known.url, key: key, offset: state.offset };
          }, function () {
            remember(key, null);
            return null;
          })
        : Promise.resolve(null);
      return resume.then(function (found) {
        if (found) return found;
        return MC.api("POST", base, { size: file.size, filename: file.name }).then(function (state) {
          remember(key, { url: state.url });
          return { url: state.url, key: key, offset: 0 };
        });
      });
    }

    var last = null;
    var chain = Promise.resolve();
    Array.prototype.forEach.call(files, function (file, index) {
      chain = chain.then(function () {
        return open(file).then(function (up) {
          openUpload = up;
          if (index === 0) startedAt = up.offset;
          report(sentBefore + up.offset, false);
          return sendFrom(file, up, up.offset, 0).then(function (task) {
            remember(up.key, null);
            openUpload = null;
            sentBefore += file.size;
            if (task) last = task;
          });
        });
      });
    });
    return chain.then(function () {
      report(total, true);
      ui.done();
      return last || MC.api("GET", "/api/tasks/" + encodeURIComponent(taskId) + "/status");
    }, function (error) {
      ui.done();
      throw error;
    });
  }

  var wholeUpload = MC.upload;
  MC.upload = function (taskId, files, onProgress) {
    for (var i = 0; i < files.length; i++) {
      // an empty file: the one-request upload answers with its own clear message
      if (!files[i].size) return wholeUpload(taskId, files, onProgress);
    }
    return upload(taskId, files, onProgress);
  };

  /* --- drag and drop onto the upload forms ------------------------------------------ */
  function dropTarget(form) {
    var input = form.querySelector('input[type="file"]');
    if (!input) return;
    form.classList.add("drop-zone");
    form.setAttribute("data-drop-hint", X.drop_here);
    ["dragenter", "dragover"].forEach(function (name) {
      form.addEventListener(name, function (event) {
        if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        form.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      form.addEventListener(name, function (event) {
        if (name === "dragleave" && form.contains(event.relatedTarget)) return;
        form.classList.remove("dragging");
      });
    });
    form.addEventListener("drop", function (event) {
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      var files = event.dataTransfer.files;
      if (!input.multiple && files.length > 1) {
        var one = new DataTransfer();
        one.items.add(files[0]);
        files = one.files;
      }
      input.files = files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }
  ["wm-upload-form", "mg-upload-form"].forEach(function (id) {
    var form = document.getElementById(id);
    if (form) dropTarget(form);
  });
})();
