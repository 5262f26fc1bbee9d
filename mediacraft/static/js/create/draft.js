/* The create page's JianYing draft tab: materials, canvas, frame rate, drafts folder. */
import { $, MC, T, messageOf } from "./shared.js";

const form = $("draft-form");

function lines(id) {
  return $(id)
    .value.split(/\r?\n/)
    .map(function (line) {
      return line.trim();
    })
    .filter(Boolean);
}

function whole(id) {
  const value = Number($(id).value);
  return Number.isFinite(value) ? value : $(id).value;
}

form.addEventListener("submit", function (event) {
  event.preventDefault();
  const message = messageOf(form);
  const payload = {
    task_type: "jianying_draft",
    materials: { videos: lines("dr-videos"), audios: lines("dr-audios") },
    draft_config: {
      canvas_width: whole("dr-width"),
      canvas_height: whole("dr-height"),
      fps: whole("dr-fps"),
      drafts_root: $("dr-root").value.trim(),
    },
  };
  const name = $("dr-name").value.trim();
  if (name) {
    payload.name = name;
    payload.draft_config.name = name;
  }
  const button = $("dr-submit");
  MC.setBusy(button, true);
  MC.showMessage(message, T.creating, "info");
  MC.api("POST", "/api/tasks/create", payload).then(
    function (data) {
      MC.showMessage(message, T.created, "success");
      window.location.href = "/tasks/" + encodeURIComponent(data.task_id);
    },
    function (error) {
      MC.setBusy(button, false);
      MC.showError(message, error);
    }
  );
});
