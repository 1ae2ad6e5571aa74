"""The Train tab's side of the job service (:mod:`imggen.jobs`): the app's service and each visitor's run folder,
and the stream that follows a job and turns what it reports into the tab's outputs (grid, status, plots, files)."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from .. import families, jobs, registry, storage
from ..convert import to_pil
from ..device import cpu_quota
from . import common

YIELD_EVERY_S = 0.5  # stream at least this often: a cancelled/disconnected job is closed at its next yield
PLOT_EVERY_S = 3.0  # redraw the curves between epochs at most this often (they are costly in the browser)
RUNS_DIR = Path(os.environ.get("IMGGEN_RUNS_DIR") or Path(__file__).resolve().parents[2] / "runs")
MAX_TRAININGS = int(os.environ.get("IMGGEN_MAX_TRAININGS", 1))  # at once; more wait (at most MAX_WAITING)
MAX_WAITING = int(os.environ.get("IMGGEN_MAX_WAITING", 4))
KEPT_WORKERS = int(os.environ.get("IMGGEN_KEPT_RUNS", 3))  # runs whose training state stays in memory (Resume)

_service: jobs.JobService | None = None
_service_lock = threading.Lock()


def service() -> jobs.JobService:
    """The app's job service, made on first use (with the workspace clean-up that goes with it)."""
    global _service
    with _service_lock:
        if _service is None:
            _service = jobs.JobService(max_running=MAX_TRAININGS, max_waiting=MAX_WAITING, max_workers=KEPT_WORKERS,
                                       threads=max(1, cpu_quota() - 1), idle_ttl_s=storage.WORKSPACE_TTL_S)
            storage.start_janitor(RUNS_DIR, _service)
        return _service


def workspace(owner: str | None) -> Path:
    """A visitor's folder under RUNS_DIR (named by a hash of the session, never by what a visitor typed; one
    folder per app process, so two processes sharing RUNS_DIR never touch each other's)."""
    return RUNS_DIR / "ws" / storage.PROCESS_TOKEN / hashlib.sha256(f"owner:{owner!r}".encode()).hexdigest()[:16]


def submit(owner, spec: jobs.JobSpec) -> jobs.Job:
    try:
        return service().submit(owner, spec)
    except jobs.JobError as e:
        raise gr.Error(str(e)) from e


def _frame(rows: list, x: str) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({x: "float64", "value": "float64"})


def plot_updates(progress: jobs.Progress, family: str):
    """Loss curves, the second plot and the per-epoch metric. Empty data is never sent: the browser keeps the
    axis types of the first data it gets (an empty frame leaves the lines invisible)."""
    p = families.get(family).plots
    first, second, title2 = list(p.losses), list(p.aux), p.aux_title
    df = _frame(progress.losses, "step") if progress.losses else None
    loss = gr.skip() if df is None else gr.LinePlot(df[df.series.isin(first)], title="losses")
    if not second:
        aux = gr.update(visible=False)
    else:
        aux = gr.skip() if df is None else gr.LinePlot(df[df.series.isin(second)], title=title2, visible=True)
    met = _frame(progress.epoch_metrics, "epoch") if progress.epoch_metrics else gr.skip()
    return loss, aux, met


def _coverage(metrics: dict):
    hist = metrics.get("class_histogram")
    if not hist:
        return gr.skip()
    return pd.DataFrame({"digit": [str(i) for i in range(len(hist))], "samples": hist})


def downloads(job: jobs.Job) -> list[str]:
    """Register the saved checkpoint in its owner's workspace, write the progress GIF; paths to download."""
    path = job.result.get("ckpt_path")
    if not path or not Path(path).exists():
        return []
    registry.register(job.spec.name, path, owner=job.owner)
    files = [path]
    frames = job.progress.frames
    if frames:
        gif = Path(path).with_name(f"{job.spec.name}-progress.gif")
        pils = [to_pil(f.float() / 255) for f in frames[:: max(1, len(frames) // 120)] + frames[-1:]]
        pils[0].save(gif, save_all=True, append_images=pils[1:], duration=350, loop=0)
        files.append(str(gif))
    return storage.offer(files)


def _status_line(job: jobs.Job, ev) -> str:
    info, run = job.progress.info, job.spec
    total, spe = info.get("total_steps", 0), max(1, info.get("steps_per_epoch", 1))
    return (f"{run.family} on {_source(info)} · epoch {ev.epoch:.2f}/{total / spe:g} · step {ev.step}/{total} · "
            f"{ev.steps_per_s:.1f} steps/s · ~{ev.eta_s:.0f}s left")


def _source(info: dict) -> str:
    return f"{info.get('data', '?')} ({info.get('images', '?')} images" + (
        f", {info['skipped']} unreadable files skipped)" if info.get("skipped") else ")")


def stream(job: jobs.Job, progress):
    """Follow ``job`` and turn what it reports into the tab's outputs; a closed stream (Cancel, a browser
    gone) stops the job."""
    spec, last_plot, last_yield, files, ended = job.spec, 0.0, 0.0, gr.skip(), False
    verb = "Resuming" if spec.kind == "resume" else f"Continuing '{spec.init}' as" if spec.init else "Starting"
    try:
        for item in job.follow():
            if item is None:  # a heartbeat: lets Gradio notice a visitor who left, so their job is stopped
                yield (gr.skip(),) * 8
                continue
            kind, payload = item
            if kind == "queued":
                yield (gr.skip(), f"Waiting for the trainer: {payload} training(s) ahead of yours "
                                  f"({job.id}; Stop cancels it).", *(gr.skip(),) * 6)
            elif kind == "starting":
                yield (gr.skip(), f"{verb} {spec.family}: reading the images…", *(gr.skip(),) * 6)
            elif kind == "started":
                if payload.get("skipped"):
                    job.progress.notes.append(f"ℹ️ Skipped {payload['skipped']} unreadable files in the zip; "
                                              f"training on {payload['images']} images.")
                yield (gr.skip(), f"{verb} {spec.family} on {_source(payload)}…",
                       *plot_updates(job.progress, spec.family), gr.skip(), "\n\n".join(job.progress.notes), gr.skip())
            elif kind == "event":
                ev = payload
                if ev.kind == "step" and ev.samples is None and time.time() - last_yield < YIELD_EVERY_S:
                    continue
                last_yield, info = time.time(), job.progress.info
                epochs = info.get("total_steps", 0) / max(1, info.get("steps_per_epoch", 1))
                progress(ev.step / max(info.get("total_steps", 1), 1),
                         desc=f"epoch {min(int(ev.epoch) + 1, max(1, int(epochs)))}/{epochs:g}")
                status = _status_line(job, ev)
                if ev.kind == "error":
                    job.progress.notes.append(f"❌ **Training diverged**: {ev.message}. Saved as '{spec.name}'.")
                if ev.kind in ("end", "error"):
                    status = f"{ev.message} · {spec.family} on {_source(info)} · saving…"
                grid_img = gr.skip() if ev.samples is None else common.png_output(
                    ev.samples.float() / 255, {"tab": "train", "model": spec.name, "family": spec.family,
                                               "step": ev.step, "seed": spec.cfg.seed},
                    scale=2)
                plots = (gr.skip(),) * 3
                if ev.kind != "step" or time.time() - last_plot >= PLOT_EVERY_S:
                    plots, last_plot = plot_updates(job.progress, spec.family), time.time()
                yield (grid_img, status, *plots, _coverage(ev.metrics) if ev.kind == "epoch" else gr.skip(),
                       "\n\n".join(job.progress.notes), gr.skip())
            elif kind == "end":
                ended = True
                if job.state == "failed":
                    raise gr.Error(job.message)
                files = downloads(job) or gr.skip()
                saved = (f" · saved as '{spec.name}' (in your model lists; publish it to share it)"
                         if job.result.get("ckpt_path") else "")
                yield (gr.skip(), f"{job.message or job.state}{saved}", *plot_updates(job.progress, spec.family),
                       gr.skip(), "\n\n".join(job.progress.notes), files)
    finally:
        if not ended:  # the stream was closed: Cancel, or the visitor left
            service().stop(job.owner, job.id)
            threading.Thread(target=_register_when_done, args=(job,), daemon=True).start()


def _register_when_done(job: jobs.Job, timeout: float = 60.0) -> None:
    """After a cancelled stream: the job saves its model as it stops; register it in its owner's workspace."""
    t0 = time.time()
    while not job.done and time.time() - t0 < timeout:
        time.sleep(0.1)
    if job.done:
        downloads(job)


def arm(request: gr.Request = None) -> str:
    """Runs (unqueued) when Start/Resume is clicked, so a Stop pressed before the job exists still cancels it."""
    service().expect(common.visitor(request)[1])
    return ""  # clears the Stop note


def stop_training(request: gr.Request = None) -> str:
    """Stop this visitor's job (waiting or running); never anyone else's."""
    return service().stop(common.visitor(request)[1])
