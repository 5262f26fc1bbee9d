/* The create page's download form: a link, its options, the task. */
import { $, MC, T, goToTasks, messageOf } from "./shared.js";

/* --- download --------------------------------------------------------------------- */
const dlForm = $("download-form");
dlForm.addEventListener("submit", async function (event) {
  event.preventDefault();
  const message = messageOf(dlForm);
  const url = $("dl-url").value.trim();
  if (!url) {
    MC.showMessage(message, T.reasons.url_required, "error");
    $("dl-url").focus();
    return;
  }
  const payload = {
    task_type: "download",
    url: url,
    options: { quality: $("dl-quality").value, profile: $("dl-profile").value },
  };
  const audio = $("dl-audio").value.trim();
  if (audio) payload.options.audio_lang = audio;
  const subtitles = $("dl-subs").value.trim();
  if (subtitles) payload.options.subtitles = subtitles;
  const minutes = Number($("dl-record").value);
  if (minutes > 0) payload.options.record_seconds = Math.round(minutes * 60);
  const container = $("dl-container").value;
  if (container && container !== "mp4") payload.options.container = container;
  const start = $("dl-start").value.trim();
  if (start) payload.options.start = start;
  const end = $("dl-end").value.trim();
  if (end) payload.options.end = end;
  if ((start || end) && $("dl-precise").checked) payload.options.precise_cut = true;
  const name = $("dl-name").value.trim();
  if (name) payload.name = name;
  const button = $("dl-submit");
  MC.setBusy(button, true);
  MC.showMessage(message, T.creating, "info");
  // The cookies file is read here and sent as the task's cookies (never a form upload).
  const cookiesFile = $("dl-cookies").files[0];
  let data;
  try {
    if (cookiesFile) payload.cookies = await cookiesFile.text();
    data = await MC.api("POST", "/api/tasks/create", payload);
  } catch (error) {
    MC.setBusy(button, false);
    MC.showError(message, error);
    return;
  }
  MC.showMessage(message, T.created, "success");
  goToTasks(data.task_id);
});

