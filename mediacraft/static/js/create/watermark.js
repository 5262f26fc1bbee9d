/* The create page's watermark removal: upload, choose a frame, draw the regions. */
import { $, LIMITS, MC, T, goToTasks, messageOf, uploadStep } from "./shared.js";

const MIN_REGION = LIMITS.min_region_size;
const MAX_REGIONS = LIMITS.max_regions;

/* --- watermark -------------------------------------------------------------------- */
const wm = { taskId: null, media: null, regions: [], selected: -1, drag: null, frameTimer: null };
const wmUpload = $("wm-upload-form");
const wmConfig = $("wm-config-form");
const canvas = $("wm-canvas");
const ctx = canvas.getContext("2d");
const frameImg = $("wm-frame");
const range = $("wm-frame-range");
const number = $("wm-frame-number");

wmUpload.addEventListener("submit", async function (event) {
  event.preventDefault();
  const input = $("wm-file");
  if (!input.files.length) {
    MC.showMessage(messageOf(wmUpload), T.need_file, "error");
    input.focus();
    return;
  }
  let button = $("wm-upload");
  MC.setBusy(button, true);
  let task;
  try {
    task = await uploadStep(wmUpload, "watermark_removal", [input.files[0]], wm, $("wm-progress"));
  } catch (error) {
    MC.setBusy(button, false);
    wmUpload.querySelector(".upload-progress").hidden = true;
    MC.showError(messageOf(wmUpload), error);
    return;
  }
  MC.setBusy(button, false);
  const media = (task.metadata && task.metadata.media) || (task.inputs[0] && task.inputs[0].media);
  startFrameChooser(media);
});

function startFrameChooser(media) {
  wm.media = media;
  wm.regions = [];
  wm.selected = -1;
  let last = Math.max(0, (media.frame_count || 1) - 1);
  range.max = String(last);
  number.max = String(last);
  const middle = Math.floor(last / 2);
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
  loadFrame(middle);
  renderRegions();
}

function loadFrame(index) {
  const count = Number(range.max) + 1;
  wmConfig.querySelector(".frame-label").textContent = MC.fmt(T.frame_n, {
    index: index,
    count: count,
  });
  frameImg.src =
    "/api/tasks/" + encodeURIComponent(wm.taskId) + "/frame?index=" + index + "&max_width=1280";
}
frameImg.addEventListener("load", function () {
  frameImg.dataset.loaded = range.value;
  draw();
});

function chooseFrame(value, from) {
  let last = Number(range.max);
  let index = Math.max(0, Math.min(last, Math.round(Number(value) || 0)));
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
  const box = canvas.getBoundingClientRect();
  let x = ((event.clientX - box.left) * canvas.width) / box.width;
  let y = ((event.clientY - box.top) * canvas.height) / box.height;
  return {
    x: Math.max(0, Math.min(canvas.width, x)),
    y: Math.max(0, Math.min(canvas.height, y)),
  };
}

function hit(p) {
  for (let i = wm.regions.length - 1; i >= 0; i--) {
    let r = wm.regions[i];
    if (p.x >= r.x && p.x <= r.x + r.w && p.y >= r.y && p.y <= r.y + r.h) return i;
  }
  return -1;
}

function normalize(r) {
  let x = Math.min(r.x, r.x + r.w);
  let y = Math.min(r.y, r.y + r.h);
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
  let p = toVideo(event);
  let index = hit(p);
  if (index !== -1) {
    wm.selected = index;
    let r = wm.regions[index];
    wm.drag = { mode: "move", dx: p.x - r.x, dy: p.y - r.y };
  } else if (wm.regions.length < MAX_REGIONS) {
    wm.drag = { mode: "draw", start: p, rect: { x: p.x, y: p.y, w: 0, h: 0 } };
    wm.selected = -1;
  }
  draw();
});

canvas.addEventListener("pointermove", function (event) {
  let p = toVideo(event);
  if (!wm.drag) {
    canvas.classList.toggle("over-region", hit(p) !== -1);
    return;
  }
  if (wm.drag.mode === "draw") {
    wm.drag.rect = { x: wm.drag.start.x, y: wm.drag.start.y, w: p.x - wm.drag.start.x, h: p.y - wm.drag.start.y };
  } else {
    let r = wm.regions[wm.selected];
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
    let r = normalize(wm.drag.rect);
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

/* The keyboard alone: Insert (or +) adds a region in the middle, N / P select the next
   or previous one, arrows move it, Alt+arrows resize it (Shift: 10 pixels at a time),
   Delete removes it. */
canvas.addEventListener("keydown", function (event) {
  if (!wm.media) return;
  const key = event.key;
  if ((key === "Insert" || key === "+") && wm.regions.length < MAX_REGIONS) {
    const w = Math.max(MIN_REGION, Math.round(canvas.width / 4));
    const h = Math.max(MIN_REGION, Math.round(canvas.height / 4));
    const x = Math.round((canvas.width - w) / 2);
    const y = Math.round((canvas.height - h) / 2);
    wm.regions.push({ x: x, y: y, w: w, h: h });
    wm.selected = wm.regions.length - 1;
    MC.showMessage(messageOf(wmConfig), "");
  } else if ((key === "n" || key === "p") && wm.regions.length) {
    const count = wm.regions.length;
    if (wm.selected === -1) wm.selected = key === "n" ? 0 : count - 1;
    else wm.selected = (wm.selected + (key === "n" ? 1 : count - 1)) % count;
  } else if (wm.selected === -1) {
    return;
  } else {
    const r = wm.regions[wm.selected];
    const step = event.shiftKey ? 10 : 1;
    const resize = event.altKey;
    if (key === "Delete" || key === "Backspace") {
      removeRegion(wm.selected);
    } else if (key === "ArrowLeft") {
      if (resize) r.w = Math.max(MIN_REGION, r.w - step);
      else r.x -= step;
    } else if (key === "ArrowRight") {
      if (resize) r.w = Math.min(canvas.width - r.x, r.w + step);
      else r.x += step;
    } else if (key === "ArrowUp") {
      if (resize) r.h = Math.max(MIN_REGION, r.h - step);
      else r.y -= step;
    } else if (key === "ArrowDown") {
      if (resize) r.h = Math.min(canvas.height - r.y, r.h + step);
      else r.y += step;
    } else {
      return;
    }
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
  const scale = canvas.width / Math.max(1, canvas.getBoundingClientRect().width || canvas.width);
  ctx.lineWidth = Math.max(1, 2 * scale);
  const all = wm.regions.slice();
  if (wm.drag && wm.drag.mode === "draw") all.push(normalize(wm.drag.rect));
  all.forEach(function (r, i) {
    const selected = i === wm.selected;
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
}
/* Keep the whole frame on screen: at most 70% of the window's height. */
function fitStage() {
  if (!wm.media) return;
  const stage = canvas.parentNode;
  const widest = (window.innerHeight * 0.7 * wm.media.width) / Math.max(1, wm.media.height);
  stage.style.maxWidth = Math.max(240, Math.round(widest)) + "px";
}
window.addEventListener("resize", function () {
  fitStage();
  draw();
});

function integerRegion(r) {
  let x = Math.max(0, Math.round(r.x));
  let y = Math.max(0, Math.round(r.y));
  const w = Math.min(Math.round(r.w), wm.media.width - x);
  const h = Math.min(Math.round(r.h), wm.media.height - y);
  return [x, y, w, h];
}

function renderRegions() {
  const list = $("wm-regions");
  list.textContent = "";
  if (!wm.regions.length) {
    const empty = document.createElement("li");
    empty.className = "hint";
    empty.textContent = T.no_regions;
    list.appendChild(empty);
    return;
  }
  wm.regions.forEach(function (r, i) {
    const v = integerRegion(r);
    const item = document.createElement("li");
    if (i === wm.selected) item.className = "selected";
    const text = document.createElement("span");
    text.textContent = MC.fmt(T.region, { n: i + 1, x: v[0], y: v[1], w: v[2], h: v[3] });
    const remove = document.createElement("button");
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

$("wm-clear").addEventListener("click", function () {
  wm.regions = [];
  wm.selected = -1;
  draw();
  renderRegions();
});

wmConfig.addEventListener("submit", async function (event) {
  event.preventDefault();
  const message = messageOf(wmConfig);
  if (!wm.regions.length) {
    MC.showMessage(message, T.need_region, "error");
    canvas.focus();
    return;
  }
  let button = $("wm-submit");
  MC.setBusy(button, true);
  MC.showMessage(message, T.submitting, "info");
  try {
    await MC.api("POST", "/api/tasks/" + encodeURIComponent(wm.taskId) + "/config", {
      selected_frame: Number(range.value),
      regions: wm.regions.map(integerRegion),
    });
  } catch (error) {
    MC.setBusy(button, false);
    MC.showError(message, error);
    return;
  }
  goToTasks(wm.taskId);
});

