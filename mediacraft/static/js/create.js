/* The create page: download a URL, remove a watermark, merge clips. */
(function () {
  "use strict";
  var MC = window.MC;
  var T = MC.T;
  var MIN_REGION = 4;
  var MAX_REGIONS = 20;

  function $(id) {
    return document.getElementById(id);
  }
  function messageOf(form) {
    return form.querySelector(".message");
  }
  function goToTasks(taskId) {
    window.location.href = "/tasks" + (taskId ? "?created=" + encodeURIComponent(taskId) : "");
  }

  /* --- tabs ------------------------------------------------------------------------- */
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
  function selectTab(tab, focus) {
    tabs.forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !selected;
    });
    if (focus) tab.focus();
    if (history.replaceState) history.replaceState(null, "", "#" + tab.id.replace("tab-", ""));
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () {
      selectTab(tab, false);
    });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (event.key === "Home") next = tabs[0];
      else if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        selectTab(next, true);
      }
    });
  });
  var initial = $("tab-" + (window.location.hash || "").replace("#", ""));
  if (initial) selectTab(initial, false);

  /* --- download --------------------------------------------------------------------- */
  var dlForm = $("download-form");
  dlForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var message = messageOf(dlForm);
    var url = $("dl-url").value.trim();
    if (!url) {
      MC.showMessage(message, T.known["url is required"], "error");
      $("dl-url").focus();
      return;
    }
    var payload = {
      task_type: "download",
      url: url,
      options: { quality: $("dl-quality").value, profile: $("dl-profile").value },
    };
    var audio = $("dl-audio").value.trim();
    if (audio) payload.options.audio_lang = audio;
    var subtitles = $("dl-subs").value.trim();
    if (subtitles) payload.options.subtitles = subtitles;
    var minutes = Number($("dl-record").value);
    if (minutes > 0) payload.options.record_seconds = Math.round(minutes * 60);
    var name = $("dl-name").value.trim();
    if (name) payload.name = name;
    var button = $("dl-submit");
    MC.setBusy(button, true);
    MC.showMessage(message, T.creating, "info");
    MC.api("POST", "/api/tasks/create", payload).then(
      function (data) {
        MC.showMessage(message, T.created, "success");
        goToTasks(data.task_id);
      },
      function (error) {
        MC.setBusy(button, false);
        MC.showError(message, error);
      }
    );
  });

  /* --- shared upload step ----------------------------------------------------------- */
  function uploadStep(form, taskType, files, state, progressEl) {
    var message = messageOf(form);
    var box = form.querySelector(".upload-progress");
    var status = form.querySelector(".upload-status");
    var ready = state.taskId
      ? Promise.resolve(state.taskId)
      : MC.api("POST", "/api/tasks/create", { task_type: taskType, name: files[0].name }).then(
          function (data) {
            state.taskId = data.task_id;
            return data.task_id;
          }
        );
    MC.showMessage(message, "");
    box.hidden = false;
    progressEl.value = 0;
    status.textContent = MC.fmt(T.uploading, { percent: 0 });
    return ready.then(function (taskId) {
      return MC.upload(taskId, files, function (fraction, done) {
        var percent = Math.round(fraction * 100);
        progressEl.value = percent;
        status.textContent = done ? T.processing_upload : MC.fmt(T.uploading, { percent: percent });
      }).then(function (task) {
        progressEl.value = 100;
        status.textContent = T.uploaded;
        return task;
      });
    });
  }

  /* --- watermark -------------------------------------------------------------------- */
  var wm = {
    taskId: null, media: null, regions: [], selected: -1, drag: null, frameTimer: null,
    detected: [], detectToken: 0, detectPending: false,
  };
  var wmUpload = $("wm-upload-form");
  var wmConfig = $("wm-config-form");
  var canvas = $("wm-canvas");
  var ctx = canvas.getContext("2d");
  var frameImg = $("wm-frame");
  var range = $("wm-frame-range");
  var number = $("wm-frame-number");

  wmUpload.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("wm-file");
    if (!input.files.length) {
      MC.showMessage(messageOf(wmUpload), T.need_file, "error");
      input.focus();
      return;
    }
    var button = $("wm-upload");
    MC.setBusy(button, true);
    uploadStep(wmUpload, "watermark_removal", [input.files[0]], wm, $("wm-progress")).then(
      function (task) {
        MC.setBusy(button, false);
        var media = (task.metadata && task.metadata.media) || (task.inputs[0] && task.inputs[0].media);
        startFrameChooser(media);
      },
      function (error) {
        MC.setBusy(button, false);
        wmUpload.querySelector(".upload-progress").hidden = true;
        MC.showError(messageOf(wmUpload), error);
      }
    );
  });

  function startFrameChooser(media) {
    wm.media = media;
    wm.regions = [];
    wm.selected = -1;
    var last = Math.max(0, (media.frame_count || 1) - 1);
    range.max = String(last);
    number.max = String(last);
    var middle = Math.floor(last / 2);
    range.value = String(middle);
    number.value = String(middle);
    canvas.width = media.width;
    canvas.height = media.height;
    fitStage();
    wmConfig.querySelector(".video-info").textContent = MC.fmt(T.video_info, {
      width: media.width,
      height: media.height,
      fps: media.fps,
      duration: media.duration,
    });
    wmConfig.hidden = false;
    $("wm-preview-figure").hidden = true;
    loadFrame(middle);
    renderRegions();
    /* after the first frame: a visitor gets one frame-sized look at the video at a time */
    wm.detectPending = true;
    detectedBox.querySelector(".detected-status").textContent = detectedText("looking");
  }

  function loadFrame(index) {
    var count = Number(range.max) + 1;
    wmConfig.querySelector(".frame-label").textContent = MC.fmt(T.frame_n, {
      index: index,
      count: count,
    });
    frameImg.src =
      "/api/tasks/" + encodeURIComponent(wm.taskId) + "/frame?index=" + index + "&max_width=1280";
    $("wm-preview-figure").hidden = true; /* a preview shows the frame it was made for */
  }
  frameImg.addEventListener("load", function () {
    frameImg.dataset.loaded = range.value;
    draw();
    if (wm.detectPending) {
      wm.detectPending = false;
      detectRegions(1);
    }
  });

  function chooseFrame(value, from) {
    var last = Number(range.max);
    var index = Math.max(0, Math.min(last, Math.round(Number(value) || 0)));
    if (from !== range) range.value = String(index);
    if (from !== number) number.value = String(index);
    clearTimeout(wm.frameTimer);
    wm.frameTimer = setTimeout(function () {
      loadFrame(index);
    }, 120);
  }
  range.addEventListener("input", function () {
    chooseFrame(range.value, range);
  });
  number.addEventListener("change", function () {
    chooseFrame(number.value, number);
  });
  number.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      /* Enter picks the frame; it must not submit the regions */
      event.preventDefault();
      chooseFrame(number.value, number);
    }
  });

  function toVideo(event) {
    var box = canvas.getBoundingClientRect();
    var x = ((event.clientX - box.left) * canvas.width) / box.width;
    var y = ((event.clientY - box.top) * canvas.height) / box.height;
    return {
      x: Math.max(0, Math.min(canvas.width, x)),
      y: Math.max(0, Math.min(canvas.height, y)),
    };
  }

  function hit(p) {
    for (var i = wm.regions.length - 1; i >= 0; i--) {
      var r = wm.regions[i];
      if (p.x >= r.x && p.x <= r.x + r.w && p.y >= r.y && p.y <= r.y + r.h) return i;
    }
    return -1;
  }

  function normalize(r) {
    var x = Math.min(r.x, r.x + r.w);
    var y = Math.min(r.y, r.y + r.h);
    return { x: x, y: y, w: Math.abs(r.w), h: Math.abs(r.h) };
  }

  function clampRegion(r) {
    r.x = Math.max(0, Math.min(canvas.width - r.w, r.x));
    r.y = Math.max(0, Math.min(canvas.height - r.h, r.y));
    return r;
  }

  canvas.addEventListener("pointerdown", function (event) {
    if (!wm.media || event.button !== 0) return;
    event.preventDefault();
    canvas.focus();
    canvas.setPointerCapture(event.pointerId);
    var p = toVideo(event);
    var index = hit(p);
    if (index !== -1) {
      wm.selected = index;
      var r = wm.regions[index];
      wm.drag = { mode: "move", dx: p.x - r.x, dy: p.y - r.y };
    } else if (wm.regions.length < MAX_REGIONS) {
      wm.drag = { mode: "draw", start: p, rect: { x: p.x, y: p.y, w: 0, h: 0 } };
      wm.selected = -1;
    }
    draw();
  });

  canvas.addEventListener("pointermove", function (event) {
    var p = toVideo(event);
    if (!wm.drag) {
      canvas.classList.toggle("over-region", hit(p) !== -1);
      return;
    }
    if (wm.drag.mode === "draw") {
      wm.drag.rect = { x: wm.drag.start.x, y: wm.drag.start.y, w: p.x - wm.drag.start.x, h: p.y - wm.drag.start.y };
    } else {
      var r = wm.regions[wm.selected];
      r.x = p.x - wm.drag.dx;
      r.y = p.y - wm.drag.dy;
      clampRegion(r);
    }
    draw();
  });

  function endDrag(event) {
    if (!wm.drag) return;
    if (canvas.hasPointerCapture && canvas.hasPointerCapture(event.pointerId)) {
      canvas.releasePointerCapture(event.pointerId);
    }
    if (wm.drag.mode === "draw") {
      var r = normalize(wm.drag.rect);
      if (r.w >= MIN_REGION && r.h >= MIN_REGION) {
        wm.regions.push(r);
        wm.selected = wm.regions.length - 1;
      }
    }
    wm.drag = null;
    draw();
    renderRegions();
    if (wm.regions.length) MC.showMessage(messageOf(wmConfig), "");
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);

  canvas.addEventListener("keydown", function (event) {
    if (wm.selected === -1) return;
    var r = wm.regions[wm.selected];
    var step = event.shiftKey ? 10 : 1;
    if (event.key === "Delete" || event.key === "Backspace") {
      removeRegion(wm.selected);
    } else if (event.key === "ArrowLeft") {
      r.x -= step;
    } else if (event.key === "ArrowRight") {
      r.x += step;
    } else if (event.key === "ArrowUp") {
      r.y -= step;
    } else if (event.key === "ArrowDown") {
      r.y += step;
    } else {
      return;
    }
    event.preventDefault();
    if (wm.regions[wm.selected]) clampRegion(wm.regions[wm.selected]);
    draw();
    renderRegions();
  });

  function removeRegion(index) {
    wm.regions.splice(index, 1);
    wm.selected = -1;
    draw();
    renderRegions();
  }

  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    var scale = canvas.width / Math.max(1, canvas.getBoundingClientRect().width || canvas.width);
    ctx.lineWidth = Math.max(1, 2 * scale);
    var all = wm.regions.slice();
    if (wm.drag && wm.drag.mode === "draw") all.push(normalize(wm.drag.rect));
    all.forEach(function (r, i) {
      var selected = i === wm.selected;
      ctx.fillStyle = selected ? "rgba(255, 196, 0, 0.35)" : "rgba(220, 38, 38, 0.25)";
      ctx.strokeStyle = selected ? "#ffc400" : "#dc2626";
      ctx.fillRect(r.x, r.y, r.w, r.h);
      ctx.strokeRect(r.x, r.y, r.w, r.h);
      if (i < wm.regions.length) {
        ctx.fillStyle = "#fff";
        ctx.font = Math.round(14 * scale) + "px sans-serif";
        ctx.fillText(String(i + 1), r.x + 4 * scale, r.y + 14 * scale);
      }
    });
    /* detected logos not taken yet: dashed, in another colour */
    ctx.save();
    ctx.setLineDash([6 * scale, 4 * scale]);
    ctx.strokeStyle = "#0ea5e9";
    wm.detected.forEach(function (r) {
      ctx.strokeRect(r.x, r.y, r.w, r.h);
    });
    ctx.restore();
  }
  /* Keep the whole frame on screen: at most 70% of the window's height. */
  function fitStage() {
    if (!wm.media) return;
    var stage = canvas.parentNode;
    var widest = (window.innerHeight * 0.7 * wm.media.width) / Math.max(1, wm.media.height);
    stage.style.maxWidth = Math.max(240, Math.round(widest)) + "px";
  }
  window.addEventListener("resize", function () {
    fitStage();
    draw();
  });

  function integerRegion(r) {
    var x = Math.max(0, Math.round(r.x));
    var y = Math.max(0, Math.round(r.y));
    var w = Math.min(Math.round(r.w), wm.media.width - x);
    var h = Math.min(Math.round(r.h), wm.media.height - y);
    return [x, y, w, h];
  }

  function renderRegions() {
    var list = $("wm-regions");
    list.textContent = "";
    if (!wm.regions.length) {
      var empty = document.createElement("li");
      empty.className = "hint";
      empty.textContent = T.no_regions;
      list.appendChild(empty);
      return;
    }
    wm.regions.forEach(function (r, i) {
      var v = integerRegion(r);
      var item = document.createElement("li");
      if (i === wm.selected) item.className = "selected";
      var text = document.createElement("span");
      text.textContent = MC.fmt(T.region, { n: i + 1, x: v[0], y: v[1], w: v[2], h: v[3] });
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button small";
      remove.textContent = T.delete;
      remove.setAttribute("aria-label", MC.fmt(T.remove_region, { n: i + 1 }));
      remove.addEventListener("click", function () {
        removeRegion(i);
        canvas.focus();
      });
      item.appendChild(text);
      item.appendChild(remove);
      list.appendChild(item);
    });
  }

  /* --- detected logos: offered, then used (as ordinary regions) or dismissed ------- */
  var detectedBox = $("wm-detected");
  function detectedText(key, vars) {
    return MC.fmt(detectedBox.getAttribute("data-" + key), vars || {});
  }
  function detectRegions(retries) {
    var token = ++wm.detectToken;
    wm.detected = [];
    renderDetected();
    detectedBox.querySelector(".detected-status").textContent = detectedText("looking");
    MC.api("GET", "/api/tasks/" + encodeURIComponent(wm.taskId) + "/suggested-regions").then(
      function (data) {
        if (token !== wm.detectToken) return;
        wm.detected = (data.regions || []).map(function (v) {
          return { x: v[0], y: v[1], w: v[2], h: v[3] };
        });
        detectedBox.querySelector(".detected-status").textContent = wm.detected.length
          ? "" : detectedText("none");
        renderDetected();
        draw();
      },
      function (error) {
        if (token !== wm.detectToken) return;
        if (error.code === 429 && retries > 0) {
          /* another look at the video (a frame) was still running: once more, a bit later */
          setTimeout(function () {
            if (token === wm.detectToken) detectRegions(retries - 1);
          }, 1500);
          return;
        }
        var status = detectedBox.querySelector(".detected-status");
        status.textContent = MC.errorText(error).text;
      }
    );
  }
  function useDetected(index) {
    if (wm.regions.length >= MAX_REGIONS) return;
    wm.regions.push(wm.detected[index]);
    wm.detected.splice(index, 1);
    wm.selected = wm.regions.length - 1;
    renderDetected();
    renderRegions();
    draw();
    MC.showMessage(messageOf(wmConfig), "");
  }
  function renderDetected() {
    var list = $("wm-detected-list");
    list.textContent = "";
    $("wm-use-all").hidden = wm.detected.length < 2;
    wm.detected.forEach(function (r, i) {
      var item = document.createElement("li");
      item.className = "detected-item";
      var text = document.createElement("span");
      text.textContent = detectedText("found", { n: i + 1, x: r.x, y: r.y, w: r.w, h: r.h });
      var actions = document.createElement("span");
      actions.className = "actions";
      var use = document.createElement("button");
      use.type = "button";
      use.className = "button small";
      use.textContent = detectedText("use");
      use.setAttribute("aria-label", detectedText("use-label", { n: i + 1 }));
      use.addEventListener("click", function () {
        useDetected(i);
      });
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "button small";
      dismiss.textContent = detectedText("dismiss");
      dismiss.setAttribute("aria-label", detectedText("dismiss-label", { n: i + 1 }));
      dismiss.addEventListener("click", function () {
        wm.detected.splice(i, 1);
        renderDetected();
        draw();
      });
      actions.appendChild(use);
      actions.appendChild(dismiss);
      item.appendChild(text);
      item.appendChild(actions);
      list.appendChild(item);
    });
  }
  $("wm-use-all").addEventListener("click", function () {
    while (wm.detected.length && wm.regions.length < MAX_REGIONS) useDetected(0);
  });

  /* --- the chosen method, and its preview on the chosen frame beside the original --- */
  function chosenMethod() {
    var checked = wmConfig.querySelector('input[name="method"]:checked');
    return checked ? checked.value : "auto";
  }
  $("wm-preview-button").addEventListener("click", function () {
    var message = messageOf(wmConfig);
    if (!wm.regions.length) {
      MC.showMessage(message, T.need_region, "error");
      canvas.focus();
      return;
    }
    var button = $("wm-preview-button");
    var regions = wm.regions.map(function (r) {
      return integerRegion(r).join(",");
    }).join(";");
    var url = "/api/tasks/" + encodeURIComponent(wm.taskId) + "/preview?frame=" + Number(range.value) +
      "&method=" + encodeURIComponent(chosenMethod()) + "&regions=" + encodeURIComponent(regions) +
      "&max_width=1280";
    MC.setBusy(button, true);
    MC.showMessage(message, button.getAttribute("data-busy"), "info");
    fetch(url, { credentials: "same-origin" }).then(
      function (response) {
        if (!response.ok) {
          return response.json().then(
            function (envelope) {
              throw new MC.ApiError(response.status, envelope && envelope.message);
            },
            function () {
              throw new MC.ApiError(response.status, "");
            }
          );
        }
        return response.blob().then(function (blob) {
          var img = $("wm-preview");
          if (img.src && img.src.indexOf("blob:") === 0) URL.revokeObjectURL(img.src);
          img.src = URL.createObjectURL(blob);
          img.dataset.frame = range.value;
          img.dataset.method = chosenMethod();
          $("wm-preview-figure").hidden = false;
          MC.setBusy(button, false);
          MC.showMessage(message, "");
        });
      }
    ).catch(function (error) {
      MC.setBusy(button, false);
      MC.showError(message, error instanceof MC.ApiError ? error : new MC.ApiError(0, ""));
    });
  });

  $("wm-clear").addEventListener("click", function () {
    wm.regions = [];
    wm.selected = -1;
    draw();
    renderRegions();
  });

  wmConfig.addEventListener("submit", function (event) {
    event.preventDefault();
    var message = messageOf(wmConfig);
    if (!wm.regions.length) {
      MC.showMessage(message, T.need_region, "error");
      canvas.focus();
      return;
    }
    var button = $("wm-submit");
    MC.setBusy(button, true);
    MC.showMessage(message, T.submitting, "info");
    MC.api("POST", "/api/tasks/" + encodeURIComponent(wm.taskId) + "/config", {
      selected_frame: Number(range.value),
      regions: wm.regions.map(integerRegion),
      method: chosenMethod(),
    }).then(
      function () {
        goToTasks(wm.taskId);
      },
      function (error) {
        MC.setBusy(button, false);
        MC.showError(message, error);
      }
    );
  });

  /* --- merge ------------------------------------------------------------------------ */
  var mg = { taskId: null, clips: [], order: [] };
  var mgUpload = $("mg-upload-form");
  var mgOrder = $("mg-order-form");

  mgUpload.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("mg-files");
    var files = Array.prototype.slice.call(input.files);
    if (!files.length || (files.length < 2 && !mg.clips.length)) {
      MC.showMessage(messageOf(mgUpload), T.need_two, "error");
      input.focus();
      return;
    }
    var button = $("mg-upload");
    MC.setBusy(button, true);
    uploadStep(mgUpload, "video_merge", files, mg, $("mg-progress")).then(
      function (task) {
        MC.setBusy(button, false);
        input.value = "";
        var known = mg.clips.length;
        mg.clips = task.inputs;
        for (var i = known; i < mg.clips.length; i++) mg.order.push(i);
        mgOrder.hidden = false;
        renderClips();
      },
      function (error) {
        MC.setBusy(button, false);
        mgUpload.querySelector(".upload-progress").hidden = true;
        MC.showError(messageOf(mgUpload), error);
      }
    );
  });

  function clipName(index) {
    var clip = mg.clips[index] || {};
    return clip.original_filename || MC.fmt(T.clip_n, { n: index + 1 });
  }

  function move(position, delta, focusClass) {
    var target = position + delta;
    if (target < 0 || target >= mg.order.length) return;
    var item = mg.order[position];
    mg.order[position] = mg.order[target];
    mg.order[target] = item;
    renderClips();
    var buttons = $("mg-clips").querySelectorAll("." + focusClass);
    var button = buttons[target];
    if (button && button.disabled) button = $("mg-clips").querySelectorAll(".move-up, .move-down")[target * 2];
    if (button) button.focus();
  }

  function renderClips() {
    var list = $("mg-clips");
    list.textContent = "";
    mg.order.forEach(function (clipIndex, position) {
      var clip = mg.clips[clipIndex] || {};
      var media = clip.media || {};
      var item = document.createElement("li");
      item.className = "clip";
      var name = document.createElement("span");
      name.className = "clip-name";
      name.textContent = clipName(clipIndex);
      var info = document.createElement("span");
      info.className = "hint";
      info.textContent =
        (media.width ? media.width + "×" + media.height + " · " : "") +
        MC.formatDuration(media.duration) +
        " · " +
        MC.formatBytes(clip.size);
      var up = document.createElement("button");
      up.type = "button";
      up.className = "button small move-up";
      up.textContent = "↑";
      up.setAttribute("aria-label", MC.fmt(T.move_up, { name: clipName(clipIndex) }));
      up.disabled = position === 0;
      up.addEventListener("click", function () {
        move(position, -1, "move-up");
      });
      var down = document.createElement("button");
      down.type = "button";
      down.className = "button small move-down";
      down.textContent = "↓";
      down.setAttribute("aria-label", MC.fmt(T.move_down, { name: clipName(clipIndex) }));
      down.disabled = position === mg.order.length - 1;
      down.addEventListener("click", function () {
        move(position, 1, "move-down");
      });
      var text = document.createElement("span");
      text.className = "clip-text";
      text.appendChild(name);
      text.appendChild(info);
      var buttons = document.createElement("span");
      buttons.className = "clip-buttons";
      buttons.appendChild(up);
      buttons.appendChild(down);
      item.appendChild(text);
      item.appendChild(buttons);
      list.appendChild(item);
    });
  }

  mgOrder.addEventListener("submit", function (event) {
    event.preventDefault();
    var message = messageOf(mgOrder);
    if (mg.order.length < 2) {
      MC.showMessage(message, T.need_two, "error");
      return;
    }
    var button = $("mg-submit");
    MC.setBusy(button, true);
    MC.showMessage(message, T.submitting, "info");
    MC.api("POST", "/api/tasks/" + encodeURIComponent(mg.taskId) + "/config", {
      order: mg.order,
    }).then(
      function () {
        goToTasks(mg.taskId);
      },
      function (error) {
        MC.setBusy(button, false);
        MC.showError(message, error);
      }
    );
  });
})();
