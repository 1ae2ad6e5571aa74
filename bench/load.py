"""Many visitors on one app: the real app (`python app.py`, loopback only) in a subprocess, driven by gradio_client
visitors in threads (one Client = one visitor session). Three phases, measured side by side in one run:

1. identical seeds: N visitors at once call Sample, Explore and Complete with the same inputs; every call must
   succeed and every visitor must get the same pixels (PNGs decoded and compared as arrays: their text chunks differ).
2. latency: a light Sample (a small grid of the default model, plain sampling) timed idle, then while a training
   runs and two heavy visitors loop on expensive calls (Sample with many images + Jacobian truncation, Complete with
   GAN inversion). Target (issue 24): p90 under load <= max(1 s, 3x idle p90).
3. training slowdown: the same training solo, with only light visitors (target <= 1.5x solo) and with the heavy
   visitors (the run of phase 2), compared by seconds per training step.

Endpoint arguments are built by parameter name from view_api and its defaults; only model / seed / count (and the
training's epochs / images / name / seed) are set here. Visitors wait up to --http-timeout-s for each HTTP request (a
browser waits longer; gradio_client's own default of 5 s counts a slow reply as a failure).

Usage: python bench/load.py [--quick] [--visitors 20] [--out bench/results/load]  -> <out>.json and <out>.md
       python -m imggen bench load --quick
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from imggen.jobs import NICE

ROOT = Path(__file__).resolve().parents[1]
SIZES = {  # defaults: the full run (~6-8 min on 2 CPU cores) and --quick (about a minute, for the test)
    "full": dict(visitors=20, phase1_count=4, complete_n=2, idle_reps=20, light_count=8, think_s=0.5,
                 light_visitors=4, light_think_s=1.0, heavy_sample_count=64, heavy_keep=0.3, heavy_complete_n=2,
                 train_epochs=3, train_images=4500, train_cap_s=150, call_timeout_s=180, http_timeout_s=30.0),
    "quick": dict(visitors=4, phase1_count=2, complete_n=1, idle_reps=6, light_count=4, think_s=0.3,
                  light_visitors=2, light_think_s=0.5, heavy_sample_count=16, heavy_keep=0.5, heavy_complete_n=1,
                  train_epochs=1, train_images=320, train_cap_s=25, call_timeout_s=90, http_timeout_s=30.0),
}
EXPLORE = ("/explore_update", "/explore_load")  # the first the app has
STATUS_RE = re.compile(r"after (\d+) steps \((\d+(?:\.\d+)?)s of training\)")  # the run's last status
LIGHT_TARGET_S, LIGHT_TARGET_X, TRAIN_TARGET_X = 1.0, 3.0, 1.5
# On a Space the visitors' browsers are other machines; here their gradio_client work shares the 2 cores, and four
# light visitors' clients used ~1 core against the app's ~0.33 (measured, 2026-12-04). The light visitors of the
# training-slowdown phase therefore run at this nice value, so the bench measures the server, not its load generator
# (each condition records both processes' CPU under "cpu_cores").
VISITOR_NICE = 15


# ---- the app in a subprocess ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """`python app.py` on a free loopback port, training runs in a temp dir; ``client()`` = one new visitor."""

    def __init__(self, work: Path, http_timeout_s: float, start_timeout_s: float = 180):
        self.work, self.http_timeout_s, port = work, http_timeout_s, free_port()
        env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
               "IMGGEN_RUNS_DIR": str(work / "runs"), "GRADIO_ANALYTICS_ENABLED": "False"}
        self.log = work / "app.log"
        self.url = f"http://127.0.0.1:{port}/"
        t = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited ({self.proc.returncode}) before serving:\n{self.log_tail()}")
            if time.perf_counter() - t > start_timeout_s:
                self.close()
                raise RuntimeError(f"the app served no page within {start_timeout_s:.0f} s:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        self.start_s = time.perf_counter() - t
        self._n = 0

    def client(self):
        from gradio_client import Client

        self._n += 1  # each visitor downloads into its own folder
        return Client(self.url, verbose=False, download_files=str(self.work / f"visitor{self._n}"),
                      analytics_enabled=False, httpx_kwargs={"timeout": self.http_timeout_s})

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- endpoints by parameter name ------------------------------------------------------------------------------
class Api:
    """The app's named endpoints (view_api): arguments by parameter name with the reported defaults."""

    def __init__(self, client):
        self.eps = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        self.ignored: dict[str, list[str]] = {}  # overrides an endpoint no longer takes (recorded, not fatal)

    def args(self, ep: str, **over) -> dict:
        if ep not in self.eps:
            raise RuntimeError(f"the app has no endpoint {ep}; it has {', '.join(sorted(self.eps))}")
        params = self.eps[ep]["parameters"]
        names = {p["parameter_name"] for p in params}
        if set(over) - names:
            self.ignored[ep] = sorted(set(over) - names)
        return {p["parameter_name"]: over.get(p["parameter_name"], p["parameter_default"]
                                              if p.get("parameter_has_default") else None) for p in params}

    def images(self, ep: str) -> list[int]:
        """Positions of the endpoint's image outputs."""
        return [i for i, r in enumerate(self.eps[ep]["returns"]) if r.get("component") == "Image"]

    def status_index(self, ep: str) -> int:
        rets = self.eps[ep]["returns"]
        return next((i for i, r in enumerate(rets) if r.get("label") == "Status"),
                    next(i for i, r in enumerate(rets) if r.get("component") == "Textbox"))

    def explore(self) -> str:
        return next(ep for ep in EXPLORE if ep in self.eps)


def call(client, ep: str, kwargs: dict, timeout: float):
    """(outputs, seconds) of one request, start to last byte."""
    t = time.perf_counter()
    out = client.submit(api_name=ep, **kwargs).result(timeout=timeout)
    return out, time.perf_counter() - t


def pixels(out) -> np.ndarray:
    path = out.get("path") if isinstance(out, dict) else out
    with Image.open(path) as im:
        return np.asarray(im)


def pct(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    q = np.percentile(xs, [50, 90, 95])
    return {"n": len(xs), "p50": round(float(q[0]), 3), "p90": round(float(q[1]), 3), "p95": round(float(q[2]), 3),
            "max": round(max(xs), 3)}


# ---- phase 1: identical seeds ---------------------------------------------------------------------------------
def phase_identical(app: App, api: Api, a) -> dict:
    sample_model = api.args("/sample")["model"]
    calls = {"/sample": api.args("/sample", model=sample_model, seed=a.seed, count=a.phase1_count),
             api.explore(): api.args(api.explore(), seed=a.seed),
             "/complete": api.args("/complete", seed=a.seed, sample_seed=a.seed, n=a.complete_n)}
    eps = list(calls)
    clients = [app.client() for _ in range(a.visitors)]
    barrier = threading.Barrier(a.visitors)

    def visitor(i: int) -> dict:
        barrier.wait(timeout=120)
        res = {}
        for ep in eps[i % 3:] + eps[:i % 3]:  # visitors start on different tabs
            try:
                out, s = call(clients[i], ep, calls[ep], a.call_timeout_s)
                res[ep] = {"s": s, "pixels": [pixels(out[j]) for j in api.images(ep)]}
            except Exception as e:  # noqa: BLE001 - every failure is a counted error
                res[ep] = {"error": f"{type(e).__name__}: {e}"[:300]}
        return res

    t = time.perf_counter()
    with ThreadPoolExecutor(a.visitors) as ex:
        results = list(ex.map(visitor, range(a.visitors)))
    out = {"visitors": a.visitors, "seconds": round(time.perf_counter() - t, 1), "endpoints": {}}
    for ep in eps:
        ok = [r[ep] for r in results if "pixels" in r[ep]]
        ref = ok[0]["pixels"] if ok else None
        same = sum(len(r["pixels"]) == len(ref) and all(np.array_equal(x, y) for x, y in zip(r["pixels"], ref))
                   for r in ok) if ref else 0
        errors = [r[ep]["error"] for r in results if "error" in r[ep]]
        out["endpoints"][ep] = {"args": {k: v for k, v in calls[ep].items() if v is not None}, "calls": a.visitors,
                                "errors": len(errors), "error_messages": sorted(set(errors))[:5],
                                "identical": same, "images_compared": len(api.images(ep)),
                                "latency_s": pct([r[ep]["s"] for r in results if "s" in r[ep]])}
    out["errors"] = sum(e["errors"] for e in out["endpoints"].values())
    out["all_identical"] = all(e["identical"] == a.visitors for e in out["endpoints"].values())
    return out


# ---- visitors that loop while a training runs -----------------------------------------------------------------
class Loop(threading.Thread):
    """A visitor calling one endpoint again and again (think time between calls) until ``stop`` is set; records
    (start, end, seconds) of each finished call and the errors."""

    def __init__(self, client, ep: str, kwargs: dict, stop: threading.Event, think_s: float, timeout: float,
                 vary_seed: bool = True, nice: int = 0):
        super().__init__(daemon=True)  # a heavy call still running when the bench ends is abandoned
        self.nice = nice  # this visitor's client work at lower CPU priority (see VISITOR_NICE)
        self.client, self.ep, self.kwargs, self.stop, self.think_s, self.timeout = client, ep, kwargs, stop, \
            think_s, timeout
        self.vary_seed, self.calls, self.errors = vary_seed, [], []

    def run(self):
        if self.nice:  # per thread on Linux; the client's own worker threads, started from here, inherit it
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        i = 0
        while not self.stop.is_set():
            kw = {**self.kwargs, "seed": self.kwargs.get("seed", 0) + i} if self.vary_seed else self.kwargs
            t0 = time.perf_counter()
            try:
                _, s = call(self.client, self.ep, kw, self.timeout)
                self.calls.append((t0, t0 + s, s))
            except Exception as e:  # noqa: BLE001
                if not self.stop.is_set():
                    self.errors.append(f"{type(e).__name__}: {e}"[:300])
            i += 1
            self.stop.wait(self.think_s)


def light_kwargs(api: Api, a) -> dict:
    return api.args("/sample", count=a.light_count, seed=a.seed)  # the default model, plain sampling


def heavy_loops(app: App, api: Api, a, stop: threading.Event) -> list[Loop]:
    """Two heavy visitors: many samples with Jacobian truncation, and Complete by GAN inversion."""
    sample = api.args("/sample", model="dcgan-mnist", count=a.heavy_sample_count, keep=a.heavy_keep, seed=a.seed)
    complete = api.args("/complete", model_name="dcgan-mnist", method="gan", n=a.heavy_complete_n, seed=a.seed,
                        sample_seed=a.seed)
    return [Loop(app.client(), "/sample", sample, stop, 0.0, a.call_timeout_s),
            Loop(app.client(), "/complete", complete, stop, 0.0, a.call_timeout_s)][:a.heavy]


def train_once(app: App, api: Api, a, name: str, loops: list[Loop], stop: threading.Event) -> dict:
    """One training through /train while ``loops`` run; capped at a.train_cap_s (then /stop)."""
    trainer = app.client()
    kwargs = api.args("/train", epochs=a.train_epochs, max_images=a.train_images, name=name, seed=a.seed)
    for loop in loops:
        loop.start()
    capped = threading.Event()

    def cap():
        capped.set()
        trainer.predict(api_name="/stop")

    t0 = time.perf_counter()
    job = trainer.submit(api_name="/train", **kwargs)
    timer = threading.Timer(a.train_cap_s, cap)
    timer.start()
    first, statuses = None, []
    si = api.status_index("/train")
    try:
        for out in job:
            first = first or time.perf_counter()
            if isinstance(out[si], str):
                statuses.append(out[si])
        final = job.result(timeout=a.call_timeout_s)
        error = None
    except Exception as e:  # noqa: BLE001
        final, error = None, f"{type(e).__name__}: {e}"[:300]
    t1 = time.perf_counter()
    timer.cancel()
    stop.set()
    status = final[si] if final and isinstance(final[si], str) else (statuses[-1] if statuses else "")
    m = STATUS_RE.search(status)
    total = re.findall(r"step \d+/(\d+)", " ".join(statuses))
    res = {"name": name, "args": {k: v for k, v in kwargs.items() if v is not None}, "wall_s": round(t1 - t0, 2),
           "streamed_s": round(t1 - first, 2) if first else None, "status": status, "error": error,
           "capped": capped.is_set(), "planned_steps": int(total[-1]) if total else None,
           "steps": int(m.group(1)) if m else None, "train_s": float(m.group(2)) if m else None,
           "window": (first or t0, t1)}
    res["s_per_step"] = round(res["train_s"] / res["steps"], 4) if m and res["steps"] else None
    return res


def loop_figures(loops: list[Loop], window: tuple[float, float]) -> dict:
    """Latency of the calls that started and ended inside the training window, and every error."""
    inside = [s for lp in loops for (t0, t1, s) in lp.calls if window[0] <= t0 and t1 <= window[1]]
    return {"visitors": len(loops), "calls": sum(len(lp.calls) for lp in loops), "latency_s": pct(inside),
            "errors": sum(len(lp.errors) for lp in loops),
            "error_messages": sorted({e for lp in loops for e in lp.errors})[:5]}


def cpu_seconds(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def condition(app: App, api: Api, a, name: str, make_loops) -> dict:
    """A training with the visitors ``make_loops(stop)`` returns: training figures + per-kind visitor figures,
    and the CPU the app process and this process (the visitors' clients) used meanwhile, in cores."""
    stop = threading.Event()
    loops = make_loops(stop)
    load0, t0, app0, me0 = os.getloadavg()[0], time.perf_counter(), cpu_seconds(app.proc.pid), time.process_time()
    res = train_once(app, api, a, f"load-{name}", [lp for kind in loops.values() for lp in kind], stop)
    dt = time.perf_counter() - t0
    res["cpu_cores"] = {"app": round((cpu_seconds(app.proc.pid) - app0) / dt, 2),
                        "visitor_clients": round((time.process_time() - me0) / dt, 2)}
    res["load_avg_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]  # start, end (other processes count)
    for kind, lps in loops.items():
        res[kind] = loop_figures(lps, res["window"])
    for lp in (lp for kind in loops.values() for lp in kind if lp.ep == "/sample" and lp.think_s > 0):
        lp.join(timeout=a.call_timeout_s)  # light visitors finish their call before the next condition
    res.pop("window")
    return res


# ---- the whole run --------------------------------------------------------------------------------------------
def machine_facts() -> dict:
    import torch

    quota = Path("/sys/fs/cgroup/cpu.max")
    facts = {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
             "cgroup_cpu_max": quota.read_text().strip() if quota.exists() else None,
             "load_avg_at_start": [round(x, 2) for x in os.getloadavg()], "torch_threads": torch.get_num_threads(),
             "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()}
    git = lambda *c: subprocess.run(["git", *c], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa
    facts["commit"] = git("rev-parse", "HEAD")
    facts["commit_subject"] = git("log", "-1", "--format=%s")[:120]
    facts["uncommitted_in_app"] = git("status", "--porcelain", "--", "app.py", "imggen").splitlines()
    return facts


def ratio(x, y):
    return round(x / y, 2) if x and y else None


def summarise(res: dict) -> dict:
    p2, p3 = res["phase2_latency"], res["phase3_training"]
    idle, loaded = p2["idle"]["latency_s"], p2["loaded"]["light_probe"]["latency_s"]
    limit = max(LIGHT_TARGET_S, LIGHT_TARGET_X * idle["p90"]) if idle.get("p90") else None
    p2["target_p90_s"] = round(limit, 3) if limit else None
    p2["loaded_vs_idle"] = {k: ratio(loaded.get(k), idle.get(k)) for k in ("p50", "p90", "p95")}
    p2["met"] = bool(limit and loaded.get("p90") is not None and loaded["p90"] <= limit)
    solo = p3["solo"]["wall_s"]
    for k in ("light", "heavy"):  # a capped run had not finished: its ratio is a lower bound
        p3[f"{k}_vs_solo"] = ratio(p3[k]["wall_s"], solo) if not p3["solo"]["capped"] else None
        p3[f"{k}_vs_solo_is_lower_bound"] = p3[k]["capped"]
        r = p3[k]  # a capped run's wall time extrapolated by the steps it made (rough: evals and start-up count)
        p3[f"{k}_vs_solo_est_by_steps"] = ratio(r["wall_s"] * r["planned_steps"] / r["steps"], solo) if (
            r["capped"] and r["steps"] and r["planned_steps"]) else p3[f"{k}_vs_solo"]
    p3["met"] = bool(p3["light_vs_solo"] and not p3["light"]["capped"] and p3["light_vs_solo"] <= TRAIN_TARGET_X)
    return res


def run(a) -> dict:
    work = Path(tempfile.mkdtemp(prefix="imggen-load-"))
    res = {"bench": "load", "mode": "quick" if a.quick else "full", "settings": {
        k: getattr(a, k) for k in (*SIZES["full"], "heavy", "seed")}, "machine": machine_facts()}
    t = time.perf_counter()
    took = res["phase_seconds"] = {}
    lap = lambda k, t0: took.__setitem__(k, round(time.perf_counter() - t0, 1)) or time.perf_counter()  # noqa
    app = App(work, a.http_timeout_s)
    try:
        res["app_start_s"] = round(app.start_s, 1)
        probe = app.client()
        api = Api(probe)
        print(f"app up in {app.start_s:.1f} s; phase 1: {a.visitors} visitors", flush=True)
        t0 = time.perf_counter()
        res["phase1_identical"] = phase_identical(app, api, a)
        t0 = lap("phase1", t0)
        light = light_kwargs(api, a)
        idle = [call(probe, "/sample", {**light, "seed": a.seed + i}, a.call_timeout_s)[1] for i in range(a.idle_reps)]
        t0 = lap("idle", t0)
        print(f"phase 2 idle p90 {pct(idle)['p90']:.2f} s; training solo", flush=True)
        p3 = {"solo": condition(app, api, a, "solo", lambda stop: {})}
        t0 = lap("train_solo", t0)
        print(f"  solo {p3['solo']['wall_s']} s; with {a.light_visitors} light visitors", flush=True)
        p3["light"] = condition(app, api, a, "light", lambda stop: {"light_visitors": [
            Loop(app.client(), "/sample", light, stop, a.light_think_s, a.call_timeout_s, nice=VISITOR_NICE)
            for _ in range(a.light_visitors)]})
        t0 = lap("train_light", t0)
        print(f"  light {p3['light']['wall_s']} s; with {a.heavy} heavy visitors + the light probe", flush=True)
        p3["heavy"] = condition(app, api, a, "heavy", lambda stop: {
            "heavy_visitors": heavy_loops(app, api, a, stop),
            "light_probe": [Loop(probe, "/sample", light, stop, a.think_s, a.call_timeout_s)]})
        lap("train_heavy", t0)
        res["phase2_latency"] = {"light_args": {k: v for k, v in light.items() if v is not None},
                                 "idle": {"calls": len(idle), "latency_s": pct(idle)},
                                 "loaded": {k: p3["heavy"][k] for k in ("light_probe", "heavy_visitors")}}
        res["phase3_training"] = p3
        res["ignored_overrides"] = api.ignored
    finally:
        app.close()
        res["app_log_tail"] = app.log_tail(8)
        shutil.rmtree(work, ignore_errors=True)
    res["total_s"] = round(time.perf_counter() - t, 1)
    res["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return summarise(res)


def _f(x, unit="s"):
    return "–" if x is None else f"{x:.2f} {unit}".strip()


def markdown(res: dict) -> str:
    p1, p2, p3 = res["phase1_identical"], res["phase2_latency"], res["phase3_training"]
    yes = {True: "yes", False: "**no**"}
    idle, probe = p2["idle"]["latency_s"], p2["loaded"]["light_probe"]["latency_s"]
    trio = lambda d: " / ".join(_f(d.get(k)) for k in ("p50", "p90", "p95"))  # noqa: E731
    rows = [("1 identical seeds", f"errors in {p1['visitors']} visitors × {len(p1['endpoints'])} calls",
             str(p1["errors"]), "0", yes[p1["errors"] == 0])]
    for ep, e in p1["endpoints"].items():
        rows.append(("1 identical seeds", f"`{ep}`: visitors with identical pixels",
                     f"{e['identical']}/{e['calls']} (p50 {_f(e['latency_s'].get('p50'))})", "all",
                     yes[e["identical"] == e["calls"]]))
    rows += [("2 latency", f"light Sample p50 / p90 / p95, idle (n={idle['n']})", trio(idle), "–", ""),
             ("2 latency", f"… training + {res['settings']['heavy']} heavy visitors (n={probe['n']})", trio(probe),
              f"p90 ≤ {_f(p2['target_p90_s'])}", yes[p2["met"]]),
             ("2 latency", "loaded / idle p50 / p90 / p95",
              " / ".join(_f(p2["loaded_vs_idle"][k], "×") for k in ("p50", "p90", "p95")), "–", "")]
    for k, label in (("solo", "training solo"), ("light", f"… with {res['settings']['light_visitors']} light visitors"),
                     ("heavy", f"… with {res['settings']['heavy']} heavy visitors + probe")):
        r = p3[k]
        val = (f"{_f(r['wall_s'])} ({r['steps'] if r['steps'] is not None else '?'}/{r['planned_steps'] or '?'} steps"
               f"{', stopped at the cap' if r['capped'] else ''})")
        if k != "solo":
            val += f", {'≥ ' if p3[f'{k}_vs_solo_is_lower_bound'] else ''}{_f(p3[f'{k}_vs_solo'], '×')} solo"
            if p3[f"{k}_vs_solo_is_lower_bound"] and p3[f"{k}_vs_solo_est_by_steps"]:
                val += f" (~{_f(p3[f'{k}_vs_solo_est_by_steps'], '×')} by its steps)"
        rows.append(("3 training", label, val, "≤ 1.5× solo" if k == "light" else "–",
                     yes[p3["met"]] if k == "light" else ""))
    m = res["machine"]
    head = (f"# Load: many visitors on one app ({res['mode']} run, {res['total_s']:.0f} s)\n\n"
            f"Commit `{m['commit'][:10]}` ({len(m['uncommitted_in_app'])} uncommitted app files), "
            f"{m['cpus_usable']} usable cores, load average {m['load_avg_at_start'][0]} at start and "
            f"{m.get('load_avg_at_end', ['?'])[0]} at the end, torch {m['torch_threads']} "
            "threads. `python bench/load.py` (bench/results/load.json has every figure). 1-min load average during "
            "the trainings (start → end; other processes on the machine count): "
            + ", ".join(f"{k} {p3[k]['load_avg_1m'][0]} → {p3[k]['load_avg_1m'][1]}" for k in ("solo", "light", "heavy")
                        if "load_avg_1m" in p3[k]) + ".\n\n")
    cpu = "; ".join(f"{k}: app {p3[k]['cpu_cores']['app']}, visitors' clients {p3[k]['cpu_cores']['visitor_clients']}"
                    for k in ("solo", "light", "heavy") if "cpu_cores" in p3[k])
    foot = (f"\n\nThe light visitors of phase 3 run their client work at nice {VISITOR_NICE}: on a Space visitors are "
            "other machines, while here their gradio_client threads share the 2 cores (CPU used during each training, "
            f"in cores — {cpu}). The training worker runs at nice {NICE} (`IMGGEN_TRAIN_NICE`).\n") if cpu else "\n"
    return head + "\n".join(["| phase | metric | value | target | met? |", "|---|---|---|---|---|",
                             *(f"| {' | '.join(r)} |" for r in rows)]) + foot


def parse(argv=None):
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer visitors and a shorter training (about a minute)")
    ap.add_argument("--out", default=None, help="results stem (default bench/results/load; --quick: a temp dir)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heavy", type=int, default=2, choices=(0, 1, 2), help="heavy visitors in phases 2-3")
    for k, v in SIZES["quick" if quick else "full"].items():
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    return ap.parse_args(argv)


def main(argv=None):
    a = parse(argv)
    out = Path(a.out or (ROOT / "bench" / "results" / "load" if not a.quick else
                         Path(tempfile.gettempdir()) / "imggen-load-quick"))
    res = run(a)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
