// Explore: decode the sliders' latent in the page with onnxruntime-web (the body of a gr.HTML js_on_load;
// `element`, `props`, `trigger` and `watch` come from Gradio). props.value is the package the server sends when the
// model, seed, class or inverted digit changes: {url, ort_dir, base, label, num_sliders, channels, height, width,
// conditional, key}. Slider changes call window.imggenBD.draw(values) (JS-only events: no server request); a
// burst of changes ends with one trigger('submit') that asks the server for the PNG and the recipe.
const SYNC_MS = 300;  // the server renders the PNG + recipe once the sliders rest this long
const bd = window.imggenBD = window.imggenBD || {};
bd.element = element; bd.trigger = trigger;
bd.frames = bd.frames || 0; bd.mode = bd.mode || "starting";
const note = (text) => { const n = element.querySelector(".bd-note"); if (n) n.textContent = text; };
const pkg = () => { try { return JSON.parse(props.value || "null"); } catch (e) { return null; } };

const core = window.imggenCore;  // static/bd_core.js, prepended

function sliderValues(n) {  // the sliders as the page shows them now
  const out = [];
  for (let k = 0; k < n; k++) {
    const el = document.querySelector(`#exp-s${k} input[type=range]`);
    out.push(el ? Number(el.value) : 0);
  }
  return out;
}

function decode(p, values) {
  const alpha = [];
  for (let k = 0; k < p.num_sliders; k++) alpha.push(Math.round(Number(values[k] || 0) * 100) / 100);
  return core.decode(p, p.base, alpha, p.label);
}

let pending = null, busy = false;
async function pump() {  // at most one decode in flight; the newest values win
  if (busy || pending === null) return;
  busy = true;
  const p = pkg(), values = pending;
  pending = null;
  try {
    if (p && p.url) {
      const img = await decode(p, values);
      const cv = element.querySelector("canvas");
      if (cv) {
        cv.width = img.width; cv.height = img.height;
        cv.getContext("2d").putImageData(img, 0, 0);
        cv.dataset.values = values.join(",");
        cv.dataset.key = p.key; cv.dataset.model = p.model;
      }
      bd.frames += 1;
      if (bd.mode !== "browser") { bd.mode = "browser"; note("Decoded in your browser (WebAssembly): dragging needs no server."); }
      if (bd.firstFrameAt === undefined && bd.pickedAt !== undefined) bd.firstFrameAt = performance.now();
    }
  } catch (e) {
    bd.mode = "server";
    note(`Server rendering: ${e.message || e}. The image updates through the server while you drag.`);
  } finally {
    busy = false;
    if (pending !== null) requestAnimationFrame(pump);
  }
}

bd.capacity = async (ms) => {  // decodes + draws per second, back to back, for `ms` (the bench's ceiling)
  const p = pkg(), cv = element.querySelector("canvas"), t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) {
    const v = Array.from({length: p.num_sliders}, (_, k) => Math.round(300 * Math.sin(n / 7 + k)) / 100);
    cv.getContext("2d").putImageData(await decode(p, v), 0, 0);
    n += 1;
  }
  return n * 1000 / (performance.now() - t0);
};

bd.draw = (values) => {
  const p = pkg();
  values = values && values.length ? values : sliderValues(p ? p.num_sliders : 0);
  if (bd.mode === "server") { trigger("submit"); return; }  // fallback: today's server path
  pending = values;
  requestAnimationFrame(pump);
  clearTimeout(bd.syncTimer);
  bd.syncTimer = setTimeout(() => trigger("submit"), SYNC_MS);  // PNG + recipe once the drag rests
};

watch("value", () => {
  const p = pkg();
  if (p && p.error) { bd.mode = "server"; note(`Server rendering: ${p.error}.`); return; }
  if (!p || !p.url) return;
  if (bd.mode === "server" && typeof WebAssembly === "object") bd.mode = "starting";  // a new model: try again
  bd.pickedAt = performance.now(); bd.firstFrameAt = undefined;
  pending = sliderValues(p.num_sliders);
  requestAnimationFrame(pump);
});
if (typeof WebAssembly !== "object") {
  bd.mode = "server";
  note("WebAssembly is unavailable in this browser: the server renders every slider move.");
} else if (pkg() && pkg().url) {
  pending = sliderValues(pkg().num_sliders); requestAnimationFrame(pump);
}
