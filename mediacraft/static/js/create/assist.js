/* The watermark form's assist: the logos the server detects (used or dismissed), the
   method choice, and a preview of the chosen method on the chosen frame beside it. */
import { $, MC, T, messageOf } from "./shared.js";

const detectedBox = $("wm-detected");
const statusLine = detectedBox.querySelector(".detected-status");

function text(key, vars) {
  return MC.fmt(detectedBox.getAttribute("data-" + key), vars || {});
}

/* ``editor``: { wm, maxRegions, draw(), renderRegions(), integerRegion(r), frameIndex() } */
export function createAssist(editor) {
  const wm = editor.wm;
  wm.detected = [];
  let token = 0;

  function detect(retries) {
    const mine = ++token;
    wm.detected = [];
    render();
    statusLine.textContent = text("looking");
    MC.api("GET", "/api/tasks/" + encodeURIComponent(wm.taskId) + "/suggested-regions").then(
      function (data) {
        if (mine !== token) return;
        wm.detected = (data.regions || []).map(function (v) {
          return { x: v[0], y: v[1], w: v[2], h: v[3] };
        });
        statusLine.textContent = wm.detected.length ? "" : text("none");
        render();
        editor.draw();
      },
      function (error) {
        if (mine !== token) return;
        if (error.code === 429 && retries > 0) {
          /* another look at the video (a frame) was still running: once more, a bit later */
          setTimeout(function () {
            if (mine === token) detect(retries - 1);
          }, 1500);
          return;
        }
        statusLine.textContent = MC.errorText(error).text;
      }
    );
  }

  function use(index) {
    if (wm.regions.length >= editor.maxRegions) return;
    wm.regions.push(wm.detected[index]);
    wm.detected.splice(index, 1);
    wm.selected = wm.regions.length - 1;
    render();
    editor.renderRegions();
    editor.draw();
    MC.showMessage(messageOf($("wm-config-form")), "");
  }

  function button(label, aria, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "button small";
    b.textContent = label;
    b.setAttribute("aria-label", aria);
    b.addEventListener("click", onClick);
    return b;
  }

  function render() {
    const list = $("wm-detected-list");
    list.textContent = "";
    $("wm-use-all").hidden = wm.detected.length < 2;
    wm.detected.forEach(function (r, i) {
      const item = document.createElement("li");
      item.className = "detected-item";
      const line = document.createElement("span");
      line.textContent = text("found", { n: i + 1, x: r.x, y: r.y, w: r.w, h: r.h });
      const actions = document.createElement("span");
      actions.className = "actions";
      actions.appendChild(button(text("use"), text("use-label", { n: i + 1 }), function () {
        use(i);
      }));
      actions.appendChild(button(text("dismiss"), text("dismiss-label", { n: i + 1 }), function () {
        wm.detected.splice(i, 1);
        render();
        editor.draw();
      }));
      item.appendChild(line);
      item.appendChild(actions);
      list.appendChild(item);
    });
  }
  $("wm-use-all").addEventListener("click", function () {
    while (wm.detected.length && wm.regions.length < editor.maxRegions) use(0);
  });

  function method() {
    const checked = document.querySelector('#wm-methods input[name="method"]:checked');
    return checked ? checked.value : "auto";
  }

  function hidePreview() {
    $("wm-preview-figure").hidden = true;
  }

  async function preview() {
    const message = messageOf($("wm-config-form"));
    if (!wm.regions.length) {
      MC.showMessage(message, T.need_region, "error");
      return;
    }
    const busy = $("wm-preview-button");
    const regions = wm.regions.map(function (r) {
      return editor.integerRegion(r).join(",");
    }).join(";");
    const url = "/api/tasks/" + encodeURIComponent(wm.taskId) + "/preview?frame=" +
      editor.frameIndex() + "&method=" + encodeURIComponent(method()) +
      "&regions=" + encodeURIComponent(regions) + "&max_width=1280";
    MC.setBusy(busy, true);
    MC.showMessage(message, busy.getAttribute("data-busy"), "info");
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) {
        let envelope = null;
        try {
          envelope = await response.json();
        } catch (ignored) {
          envelope = null;
        }
        throw new MC.ApiError(response.status, envelope && envelope.message);
      }
      const blob = await response.blob();
      const img = $("wm-preview");
      if (img.src && img.src.indexOf("blob:") === 0) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(blob);
      $("wm-preview-figure").hidden = false;
      MC.showMessage(message, "");
    } catch (error) {
      MC.showError(message, error instanceof MC.ApiError ? error : new MC.ApiError(0, ""));
    } finally {
      MC.setBusy(busy, false);
    }
  }
  $("wm-preview-button").addEventListener("click", preview);

  /* detected logos not taken yet: dashed, in another colour */
  function drawDetected(ctx, scale) {
    ctx.save();
    ctx.setLineDash([6 * scale, 4 * scale]);
    ctx.strokeStyle = "#0ea5e9";
    wm.detected.forEach(function (r) {
      ctx.strokeRect(r.x, r.y, r.w, r.h);
    });
    ctx.restore();
  }

  return { detect: detect, method: method, hidePreview: hidePreview, drawDetected: drawDetected };
}
