/* The create page's merge: upload clips, put them in order, merge. */
import { $, LIMITS, MC, T, goToTasks, messageOf, uploadStep } from "./shared.js";

const MIN_CLIPS = LIMITS.min_clips;

/* --- merge ------------------------------------------------------------------------ */
const mg = { taskId: null, clips: [], order: [] };
const mgUpload = $("mg-upload-form");
const mgOrder = $("mg-order-form");

mgUpload.addEventListener("submit", async function (event) {
  event.preventDefault();
  const input = $("mg-files");
  const files = Array.prototype.slice.call(input.files);
  if (!files.length || (files.length < MIN_CLIPS && !mg.clips.length)) {
    MC.showMessage(messageOf(mgUpload), T.need_two, "error");
    input.focus();
    return;
  }
  let button = $("mg-upload");
  MC.setBusy(button, true);
  let task;
  try {
    task = await uploadStep(mgUpload, "video_merge", files, mg, $("mg-progress"));
  } catch (error) {
    MC.setBusy(button, false);
    mgUpload.querySelector(".upload-progress").hidden = true;
    MC.showError(messageOf(mgUpload), error);
    return;
  }
  MC.setBusy(button, false);
  input.value = "";
  const known = mg.clips.length;
  mg.clips = task.inputs;
  for (let i = known; i < mg.clips.length; i++) mg.order.push(i);
  mgOrder.hidden = false;
  renderClips();
});

function clipName(index) {
  let clip = mg.clips[index] || {};
  return clip.original_filename || MC.fmt(T.clip_n, { n: index + 1 });
}

function move(position, delta, focusClass) {
  const target = position + delta;
  if (target < 0 || target >= mg.order.length) return;
  let item = mg.order[position];
  mg.order[position] = mg.order[target];
  mg.order[target] = item;
  renderClips();
  let buttons = $("mg-clips").querySelectorAll("." + focusClass);
  let button = buttons[target];
  if (button && button.disabled) button = $("mg-clips").querySelectorAll(".move-up, .move-down")[target * 2];
  if (button) button.focus();
}

function renderClips() {
  const list = $("mg-clips");
  list.textContent = "";
  mg.order.forEach(function (clipIndex, position) {
    let clip = mg.clips[clipIndex] || {};
    const media = clip.media || {};
    let item = document.createElement("li");
    item.className = "clip";
    const name = document.createElement("span");
    name.className = "clip-name";
    name.textContent = clipName(clipIndex);
    const info = document.createElement("span");
    info.className = "hint";
    info.textContent =
      (media.width ? media.width + "×" + media.height + " · " : "") +
      MC.formatDuration(media.duration) +
      " · " +
      MC.formatBytes(clip.size);
    const up = document.createElement("button");
    up.type = "button";
    up.className = "button small move-up";
    up.textContent = "↑";
    up.setAttribute("aria-label", MC.fmt(T.move_up, { name: clipName(clipIndex) }));
    up.disabled = position === 0;
    up.addEventListener("click", function () {
      move(position, -1, "move-up");
    });
    const down = document.createElement("button");
    down.type = "button";
    down.className = "button small move-down";
    down.textContent = "↓";
    down.setAttribute("aria-label", MC.fmt(T.move_down, { name: clipName(clipIndex) }));
    down.disabled = position === mg.order.length - 1;
    down.addEventListener("click", function () {
      move(position, 1, "move-down");
    });
    const text = document.createElement("span");
    text.className = "clip-text";
    text.appendChild(name);
    text.appendChild(info);
    let buttons = document.createElement("span");
    buttons.className = "clip-buttons";
    buttons.appendChild(up);
    buttons.appendChild(down);
    item.appendChild(text);
    item.appendChild(buttons);
    list.appendChild(item);
  });
}

mgOrder.addEventListener("submit", async function (event) {
  event.preventDefault();
  const message = messageOf(mgOrder);
  if (mg.order.length < MIN_CLIPS) {
    MC.showMessage(message, T.need_two, "error");
    return;
  }
  let button = $("mg-submit");
  MC.setBusy(button, true);
  MC.showMessage(message, T.submitting, "info");
  try {
    await MC.api("POST", "/api/tasks/" + encodeURIComponent(mg.taskId) + "/config", { order: mg.order });
  } catch (error) {
    MC.setBusy(button, false);
    MC.showError(message, error);
    return;
  }
  goToTasks(mg.taskId);
});
