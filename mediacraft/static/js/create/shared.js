/* What the create page's parts share: strings, the server's limits, the upload step. */
import { MC } from "../common.js";

export { MC };
export const T = MC.T;
/* The server's limits, from the page's data block (the server checks them again). */
export const LIMITS = T.limits;

export function $(id) {
  return document.getElementById(id);
}

export function messageOf(form) {
  return form.querySelector(".message");
}

export function goToTasks(taskId) {
  window.location.href = "/tasks" + (taskId ? "?created=" + encodeURIComponent(taskId) : "");
}

/* --- shared upload step ----------------------------------------------------------- */
export async function uploadStep(form, taskType, files, state, progressEl) {
  const message = messageOf(form);
  const box = form.querySelector(".upload-progress");
  const status = form.querySelector(".upload-status");
  MC.showMessage(message, "");
  box.hidden = false;
  progressEl.value = 0;
  status.textContent = MC.fmt(T.uploading, { percent: 0 });
  if (!state.taskId) {
    const data = await MC.api("POST", "/api/tasks/create", { task_type: taskType, name: files[0].name });
    state.taskId = data.task_id;
  }
  const task = await MC.upload(state.taskId, files, function (fraction, done) {
    const percent = Math.round(fraction * 100);
    progressEl.value = percent;
    status.textContent = done ? T.processing_upload : MC.fmt(T.uploading, { percent: percent });
  });
  progressEl.value = 100;
  status.textContent = T.uploaded;
  return task;
}
