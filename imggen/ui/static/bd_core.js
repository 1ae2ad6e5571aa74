// Shared by the in-browser decoders (Explore's sliders, Interpolate's scrub): prepended to each panel's
// js_on_load, defined once per page as window.imggenCore. A package p is {url, ort_dir, num_sliders, channels,
// height, width, conditional}; decode(p, base, alpha, label) runs its ONNX graph (z = base + scale·alpha·V, then
// the decoder) and returns the ImageData (uint8 = round(255 * clamp(x, 0, 1)), grey repeated over R, G, B).
window.imggenCore = window.imggenCore || (() => {
  const core = {ort: null, sessions: {}};
  core.runtime = (dir) => {  // onnxruntime-web from the app's own static files (no CDN)
    if (core.ort) return core.ort;
    core.ort = new Promise((resolve, reject) => {
      if (typeof WebAssembly !== "object") { reject(new Error("WebAssembly is unavailable in this browser")); return; }
      const s = document.createElement("script");
      s.src = dir + "ort.wasm.min.js";
      s.onload = () => {
        window.ort.env.wasm.wasmPaths = dir;
        window.ort.env.wasm.numThreads = 1;  // no cross-origin isolation on a Space: one thread, no worker
        resolve(window.ort);
      };
      s.onerror = () => reject(new Error("could not load onnxruntime-web"));
      document.head.appendChild(s);
    });
    return core.ort;
  };
  core.session = (p) => {
    if (!core.sessions[p.url]) {
      core.sessions[p.url] = core.runtime(p.ort_dir).then((ort) => ort.InferenceSession.create(p.url, {
        executionProviders: ["wasm"], graphOptimizationLevel: "all"}));
    }
    return core.sessions[p.url];
  };
  core.decode = async (p, base, alpha, label) => {
    const ort = await core.runtime(p.ort_dir);
    const s = await core.session(p);
    const feeds = {base: new ort.Tensor("float32", Float32Array.from(base), [1, base.length]),
                   alpha: new ort.Tensor("float32", Float32Array.from(alpha), [1, p.num_sliders])};
    if (p.conditional) feeds.label = new ort.Tensor("int64", BigInt64Array.from([BigInt(label || 0)]), [1]);
    const out = (await s.run(feeds)).image.data;
    const {channels: C, height: H, width: W} = p, px = new Uint8ClampedArray(4 * H * W);
    for (let i = 0; i < H * W; i++) {
      for (let c = 0; c < 3; c++) {
        const x = out[(C === 1 ? 0 : c) * H * W + i];
        px[4 * i + c] = Math.round(255 * Math.min(1, Math.max(0, x)));
      }
      px[4 * i + 3] = 255;
    }
    return new ImageData(px, W, H);
  };
  core.latentAt = (a, b, t, mode) => {  // imggen.interpolate.lerp / slerp at one t, in float64
    const lerp = (x, y) => x.map((v, i) => (1 - t) * v + t * y[i]);
    if (mode === "lerp") return lerp(a, b);
    const norm = (x) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
    const n0 = norm(a), n1 = norm(b);
    const u0 = a.map((v) => v / Math.max(n0, 1e-12)), u1 = b.map((v) => v / Math.max(n1, 1e-12));
    const dot = u0.reduce((s, v, i) => s + v * u1[i], 0);
    const omega = Math.acos(Math.min(1 - 1e-7, Math.max(-1 + 1e-7, dot)));
    let d;
    if (Math.abs(omega) < 1e-4) d = lerp(u0, u1);  // (nearly) parallel
    else d = u0.map((v, i) => (Math.sin((1 - t) * omega) * v + Math.sin(t * omega) * u1[i]) / Math.sin(omega));
    const dn = Math.max(norm(d), 1e-12), r = (1 - t) * n0 + t * n1;
    return d.map((v) => v / dn * r);
  };
  return core;
})();
