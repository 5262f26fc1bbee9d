/* The task page's materials table for a JianYing draft: one row per file, live. */
import { MC } from "./common.js";

const box = document.getElementById("t-draft");
const body = document.getElementById("t-draft-files");
const summary = document.getElementById("t-draft-summary");

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function show(task) {
  const detail = task.progress_detail || {};
  const files = detail.files;
  if (task.task_type !== "jianying_draft" || !files || !files.length) {
    box.hidden = true;
    return;
  }
  const totals = detail.materials || {};
  summary.textContent = MC.fmt(box.dataset.summary, {
    done: totals.completed_files || 0,
    total: totals.total_files || files.length,
    failed: totals.failed_files || 0,
  });
  body.textContent = "";
  files.forEach(function (file) {
    const row = document.createElement("tr");
    row.dataset.status = file.status;
    const name = cell(row, file.name);
    name.title = file.source || "";
    cell(row, box.dataset[file.status] || file.status);
    let size = file.bytes_done ? MC.formatBytes(file.bytes_done) : "–";
    if (file.bytes_total && file.status !== "completed") {
      size += " / " + MC.formatBytes(file.bytes_total);
    }
    cell(row, size);
    const meter = document.createElement("progress");
    meter.max = 100;
    meter.value = file.bytes_total ? Math.min(100, (100 * file.bytes_done) / file.bytes_total) : 0;
    if (file.status === "completed") meter.value = 100;
    meter.setAttribute("aria-label", file.name);
    cell(row, "").appendChild(meter);
    body.appendChild(row);
  });
  box.hidden = false;
}

document.addEventListener("mc:task", function (event) {
  show(event.detail);
});
const initial = document.getElementById("task-data");
if (initial) show(JSON.parse(initial.textContent));
