/* The create page: its tabs, and the three flows, each in its own module. */
import "./create/download.js";
import "./create/merge.js";
import "./create/watermark.js";
import { $ } from "./create/shared.js";

/* --- tabs ------------------------------------------------------------------------- */
let tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
function selectTab(tab, focus) {
  tabs.forEach(function (other) {
    const selected = other === tab;
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
    let next = null;
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
const initial = $("tab-" + (window.location.hash || "").replace("#", ""));
if (initial) selectTab(initial, false);

