// Interpolate: scrub the walk in the page (the body of a gr.HTML js_on_load; static/bd_core.js is prepended).
// props.value is the package the server sends once a walk is made: {url, ort_dir, model, key, a, b, mode, label,
// conditional, num_sliders, channels, height, width, steps, frames (PNG data URLs), browser, reason}. The scrub
// slider calls window.imggenScrub.draw(t) (a JS-only event: no server request): the page computes the latent at t
// (lerp or slerp, as the server's path) and decodes it locally; without WebAssembly, or for a walk the browser's
// decoder cannot run (W path, mixed classes), it shows the nearest rendered frame.
const sc = window.imggenScrub = window.imggenScrub || {};
sc.element = element; sc.frames = sc.frames || 0; sc.mode = sc.mode || "idle";
const core = window.imggenCore;
const note = (text) => { const n = element.querySelector(".bd-note"); if (n) n.textContent = text; };
const pkg = () => { try { return JSON.parse(props.value || "null"); } catch (e) { return null; } };
const canvas = () => element.querySelector("canvas");
const sliderT = () => { const el = document.querySelector("#int-scrub input[type=range]"); return el ? Number(el.value) : 0; };

function show(img, p, t) {
  const cv = canvas();
  if (!cv) return;
  cv.width = img.width; cv.height = img.height;
  if (img instanceof ImageData) cv.getContext("2d").putImageData(img, 0, 0);
  else cv.getContext("2d").drawImage(img, 0, 0);
  cv.dataset.t = String(t); cv.dataset.key = p.key || ""; cv.dataset.model = p.model; cv.dataset.mode = sc.mode;
  sc.frames += 1;
}

function nearest(p, t, why) {  // the fallback: the nearest of the frames the server rendered
  const i = Math.round(Math.min(1, Math.max(0, t)) * (p.steps - 1)), im = new Image();
  sc.mode = "frames";
  note(`${why}: scrubbing shows the nearest of the ${p.steps} rendered frames (frame ${i + 1}).`);
  im.onload = () => show(im, p, i / (p.steps - 1));
  im.src = p.frames[i];
}

let pending = null, busy = false;
async function pump() {  // at most one decode in flight; the newest t wins
  if (busy || pending === null) return;
  busy = true;
  const p = pkg(), t = pending;
  pending = null;
  try {
    if (p && p.steps) {
      if (sc.mode === "frames") nearest(p, t, sc.why);
      else {
        const z = core.latentAt(p.a, p.b, t, p.mode);
        const img = await core.decode(p, z, new Array(p.num_sliders).fill(0), p.label);
        sc.mode = "browser";
        show(img, p, t);
        note(`Decoded in your browser (WebAssembly, ${p.mode}): scrubbing needs no server.`);
      }
    }
  } catch (e) {
    sc.why = `In-browser decoding failed (${e.message || e})`;
    sc.mode = "frames";
    if (p && p.steps) nearest(p, t, sc.why);
  } finally {
    busy = false;
    if (pending !== null) requestAnimationFrame(pump);
  }
}

sc.draw = (t) => { pending = Number(t); requestAnimationFrame(pump); };

watch("value", () => {
  const p = pkg();
  if (!p || !p.steps) return;
  if (typeof WebAssembly !== "object") { sc.mode = "frames"; sc.why = "WebAssembly is unavailable in this browser"; }
  else if (!p.browser) { sc.mode = "frames"; sc.why = p.reason; }
  else sc.mode = "starting";
  sc.draw(sliderT());
});
