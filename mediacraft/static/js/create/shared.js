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
export function uploadStep(form, taskType, files, state, progressEl) {
  const message = messageOf(form);
  const box = form.querySelector(".upload-progress");
  const status = form.querySelector(".upload-status");
  const ready = state.taskId
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
      const percent = Math.round(fraction * 100);
      progressEl.value = percent;
      status.textContent = done ? T.processing_upload : MC.fmt(T.uploading, { percent: percent });
    }).then(function (task) {
      progressEl.value = 100;
      status.textContent = T.uploaded;
      return task;
    });
  });
}

