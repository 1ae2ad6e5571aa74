"""Training jobs for many visitors, out of the request path.

Each run trains in a worker process of its own (``python -m imggen.jobs``): its own torch threads and RNG, a
lower CPU priority than the app, and data decoding inside it, so a Stop that the loop does not honour within
``STOP_GRACE_S`` ends the process. Jobs have an owner (a visitor's workspace), an id and a state; an owner has at
most one running-or-waiting job, the service at most ``max_running`` running and ``max_waiting`` waiting ones,
and a finished run keeps its worker (and optimiser) for Resume while there is room and for ``idle_ttl_s``.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import torch

from .train import TrainConfig, TrainEvent, TrainState

STOP_GRACE_S = 3.0  # a worker that has not acknowledged a stop by then is ended
STOP_SAVE_S = 20.0  # ... one that has may finish its step (or epoch metrics) and save for this long
JOB_GRACE_S = 120.0  # any job is ended this long after its time cap (the loop stops itself at the cap)
EXPECT_S = 30.0  # a Start announced by expect() is awaited this long
MAX_FRAME_BYTES = 24 * 2**20  # progress-GIF frames kept per run, in all
NICE = int(os.environ.get("IMGGEN_TRAIN_NICE", 4))  # workers' CPU priority below the app's (bench/results/load.md)
START_TIMEOUT_S = 120.0  # a worker that has not said hello by then is killed
MAX_FRAMES = 120  # progress-GIF frames kept per run (thinned evenly beyond)
MAX_LOSS_ROWS = 2000  # loss-curve rows kept per run (thinned evenly beyond)
MAX_LOG = 256  # events kept for followers
DATA_TIME_S = 120.0  # decoding a visitor's images: at most this long (counted in the job's time cap)
DATA_PIXELS = 200_000_000  # ... and at most this many decoded pixels in all
MIN_IMAGES = 8


class JobError(ValueError):
    """A job refused (limits, nothing to resume) or failed; the message is meant for the visitor."""


@dataclass
class JobSpec:
    """What a worker does: ``kind`` "train" (a new run or, with ``init_path``, continuing a checkpoint's weights),
    "resume" (the worker's run, ``cfg.epochs`` more) or "fit_prior" (a DCGAN run's latent mixture)."""
    kind: str
    family: str
    data: dict  # load_data keyword arguments, "name" the source: decoded in the worker
    cfg: TrainConfig
    name: str  # the model's name in its owner's workspace
    out: str  # checkpoint file the run writes
    model_config: dict = field(default_factory=dict)
    init_path: str | None = None  # checkpoint whose weights a new run starts from
    init: str = ""  # ... its name, recorded in the card's phases
    prior: dict = field(default_factory=dict)  # fit_prior: components, samples, eval_samples


@dataclass
class Progress:
    """What a run has shown so far (bounded): loss rows, per-epoch metric rows, grid frames, notes."""
    losses: list = field(default_factory=list)  # {step, value, series}
    epoch_metrics: list = field(default_factory=list)  # {epoch, value, metric}
    frames: list = field(default_factory=list)  # (C, H, W) uint8 grids
    notes: list = field(default_factory=list)
    best_coverage: int = 0
    info: dict = field(default_factory=dict)  # the worker's "started" message: data, steps per epoch, total
    every: int = 1  # record losses every this many steps

    def add(self, ev: TrainEvent) -> None:
        if ev.kind in ("step", "epoch") and (ev.step % self.every == 0 or ev.kind == "epoch"):
            self.losses += [{"step": ev.step, "value": float(v), "series": k} for k, v in ev.losses.items()]
            if len(self.losses) > MAX_LOSS_ROWS:
                self.losses = self.losses[::2]
                self.every *= 2
        if ev.samples is not None:
            self.frames.append(ev.samples)  # uint8, see _unpack
            while len(self.frames) > MAX_FRAMES or len(self.frames) > 2 and \
                    sum(f.numel() for f in self.frames) > MAX_FRAME_BYTES:
                self.frames = self.frames[::2]
        m = ev.metrics if ev.kind == "epoch" else {}
        for key, label in (("fd", "classifier FD"), ("swd", "sliced Wasserstein (x1e3)")):
            if key in m:
                self.epoch_metrics.append({"epoch": round(ev.epoch, 2), "value": float(m[key]), "metric": label})
        if "coverage" in m:
            cov = int(m["coverage"])
            if cov <= self.best_coverage - 2:
                self.notes.append(f"⚠️ **Possible mode collapse** at epoch {ev.epoch:.1f}: only {cov} of 10 digit "
                                  f"classes appear in the samples (best so far: {self.best_coverage}).")
            self.best_coverage = max(self.best_coverage, cov)


_ids = itertools.count(1)


class Job:
    """One unit of work of one owner. ``state``: waiting → running → finished | stopped | failed."""

    def __init__(self, owner: str | None, spec: JobSpec, progress: Progress):
        self.id, self.owner, self.spec, self.progress = f"job-{next(_ids)}", owner, spec, progress
        self.state, self.message, self.result = "waiting", "", {}
        self.created, self.started, self.ended = time.time(), 0.0, 0.0
        self.stop_requested = 0.0  # when Stop was asked (0: not)
        self.forced = False  # the worker had to be ended
        self._log: deque = deque(maxlen=MAX_LOG)  # (seq, kind, payload)
        self._seq = 0
        self._cond = threading.Condition()

    @property
    def done(self) -> bool:
        return self.state in ("finished", "stopped", "failed")

    def _emit(self, kind: str, payload=None, state: str | None = None, message: str | None = None) -> None:
        with self._cond:
            if state:
                self.state = state
            if message is not None:
                self.message = message
            if kind == "end":  # nothing before the end is needed once followers have read it: free the grids
                self._log = deque(((q, k, p) for q, k, p in self._log if k != "event" or p.samples is None),
                                  maxlen=MAX_LOG)
            self._seq += 1
            self._log.append((self._seq, kind, payload))
            self._cond.notify_all()

    def follow(self, heartbeat_s: float = 0.5):
        """Yield (kind, payload) as they come: "queued" (jobs ahead), "started" (info), "event" (TrainEvent),
        "end" (the job's final state); ``None`` every ``heartbeat_s`` with nothing new, so a consumer can
        show the wait. Slow consumers skip to the newest events; the end is never missed."""
        seen = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._seq > seen, heartbeat_s)
                new = [(s, k, p) for s, k, p in self._log if s > seen]
                done = self.done
            if new:
                seen = new[-1][0]
                for _, kind, payload in new:
                    yield kind, payload
                    if kind == "end":
                        return
            elif done:
                yield "end", self.state
                return
            else:
                yield None


class _Worker:
    """A worker process and its connection; ``owner`` and ``run_id`` say whose run it holds."""

    def __init__(self, threads: int, nice: int):
        a, b = socket.socketpair()
        env = {**os.environ, "IMGGEN_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        self.proc = subprocess.Popen([sys.executable, "-m", "imggen.jobs", str(b.fileno()), str(nice)],
                                     pass_fds=[b.fileno()], env=env, cwd=str(Path(__file__).resolve().parents[1]))
        b.close()
        self.conn = Connection(a.detach())
        self.owner: str | None = None
        self.run_id = ""
        self.busy = False
        self.last_used = time.time()
        self.hello = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, *msg) -> None:
        try:
            self.conn.send(msg)
        except (OSError, EOFError, BrokenPipeError):
            pass

    def recv(self, timeout: float):
        """The next message, None on timeout; ("gone", code) once the process has died."""
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (OSError, EOFError):
            pass
        if not self.alive() or self.conn.closed:
            return ("gone", self.proc.poll())
        return None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.conn.close()

    def quit(self) -> None:
        self.send("quit")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


@dataclass
class Run:
    """An owner's last run: what Resume continues and Fit prior measures."""
    id: str
    spec: JobSpec
    progress: Progress
    ckpt_path: str = ""
    step: int = 0
    seconds: float = 0.0


class JobService:
    """Trainings of many owners, at most ``max_running`` at once, each in its own worker process."""

    def __init__(self, *, max_running: int = 1, max_waiting: int = 4, max_workers: int = 3,
                 threads: int = 1, nice: int = NICE, idle_ttl_s: float = 1800.0):
        self.max_running, self.max_waiting, self.threads, self.nice = max_running, max_waiting, threads, nice
        self.max_workers, self.idle_ttl_s = max(max_workers, max_running), idle_ttl_s
        self._lock = threading.RLock()
        self._queue: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}  # the live (waiting/running) jobs
        self._last: dict[str | None, Job] = {}  # owner -> last job
        self._runs: dict[str | None, Run] = {}  # owner -> last run (Resume, Fit prior)
        self._workers: list[_Worker] = []
        self._expected: dict = {}  # owner -> [when announced, Stop pressed], for Starts on their way

    # ---- the visitor's calls -----------------------------------------------------------------------------
    def submit(self, owner: str | None, spec: JobSpec) -> Job:
        """Queue ``spec`` for ``owner``; JobError when the owner already has a job or the queue is full."""
        with self._lock:
            mine = [j for j in self._jobs.values() if j.owner == owner]
            if mine:
                raise JobError(f"You already have a training {mine[0].state} ({mine[0].id}, '{mine[0].spec.name}'):"
                               " stop it first, or wait for it to finish.")
            if spec.kind in ("resume", "fit_prior") and owner not in self._runs:
                raise JobError("Nothing to continue in this session: press Start first.")
            waiting = sum(j.state == "waiting" for j in self._jobs.values())
            running = len(self._jobs) - waiting
            if running >= self.max_running and waiting >= self.max_waiting:
                raise JobError(f"The server is busy: {running} training(s) running and {waiting} waiting, the most "
                               "it takes. Try again in a few minutes.")
            if spec.kind == "train":
                progress = Progress()
            else:
                progress = self._runs[owner].progress
            job = Job(owner, spec, progress)
            if self._expected.pop(owner, [0, False])[1]:  # Stop pressed while this Start was on its way
                job._emit("end", "stopped", state="stopped", message="Stopped before it started.")
                return job
            self._jobs[job.id] = job
            self._last[owner] = job
            self._queue.append(job)
            self._pump()
        self._announce_positions()
        return job

    def expect(self, owner: str | None) -> None:
        """A Start is on its way for ``owner``: a Stop before it arrives cancels it (see :meth:`stop`)."""
        with self._lock:
            self._expected[owner] = [time.time(), False]

    def stop(self, owner: str | None, job_id: str | None = None) -> str:
        """Stop ``owner``'s job (``job_id`` or their current one): a waiting one never starts, a running one
        stops at its next step (the model is kept) or, past STOP_GRACE_S, its worker is ended."""
        with self._lock:
            job = self._jobs.get(job_id) if job_id else next(
                (j for j in self._jobs.values() if j.owner == owner), None)
            if job is None or job.owner != owner:
                pending = self._expected.get(owner) if job_id is None else None
                if pending and time.time() - pending[0] < EXPECT_S:
                    pending[1] = True
                    return "Stopped before it started."
                return "Nothing is training in this session."
            if job.state == "waiting":
                self._queue.remove(job)
                del self._jobs[job.id]
                job._emit("end", "stopped", state="stopped", message="Stopped before it started.")
                self._announce_positions()
                return "Stopped before it started."
            job.stop_requested = job.stop_requested or time.time()
        return "Stopping at the next step; the model is kept and can be resumed."

    def current(self, owner: str | None) -> Job | None:
        with self._lock:
            return self._last.get(owner)

    def run_of(self, owner: str | None) -> Run | None:
        with self._lock:
            return self._runs.get(owner)

    def forget(self, owner: str | None) -> None:
        """Drop ``owner``'s run and its worker (their workspace expired)."""
        with self._lock:
            self._runs.pop(owner, None)
            self._last.pop(owner, None)
            gone = [w for w in self._workers if w.owner == owner and not w.busy]
            self._workers = [w for w in self._workers if w not in gone]
        _quit_all(gone)

    def status(self) -> dict:
        with self._lock:
            return {"running": sum(j.state == "running" for j in self._jobs.values()), "waiting": len(self._queue),
                    "workers": len(self._workers), "runs": len(self._runs)}

    def reap(self) -> None:
        """End idle workers past their time to live (their owners' Resume then restarts from the weights) and
        forget finished jobs and announced Starts nobody follows any more."""
        now = time.time()
        with self._lock:
            gone = [w for w in self._workers if not w.busy and (now - w.last_used > self.idle_ttl_s or not w.alive())]
            self._workers = [w for w in self._workers if w not in gone]
            for owner, job in list(self._last.items()):
                if job.done and now - job.ended > self.idle_ttl_s:
                    del self._last[owner]
            for owner, (when, _) in list(self._expected.items()):
                if now - when > EXPECT_S:
                    del self._expected[owner]
        _quit_all(gone)

    def shutdown(self) -> None:
        with self._lock:
            for job in list(self._jobs.values()):
                job.stop_requested = time.time()
            workers, self._workers = self._workers, []
        for w in workers:
            w.kill()

    # ---- scheduling ----------------------------------------------------------------------------------------
    def _announce_positions(self) -> None:
        with self._lock:
            for i, job in enumerate(self._queue):
                job._emit("queued", i + sum(j.state == "running" for j in self._jobs.values()))

    def _pump(self) -> None:
        with self._lock:
            while self._queue and sum(j.state == "running" for j in self._jobs.values()) < self.max_running:
                job = self._queue.popleft()
                job.state, job.started = "running", time.time()
                threading.Thread(target=self._drive, args=(job,), daemon=True, name=f"imggen-{job.id}").start()

    def _worker_for(self, job: Job) -> tuple[_Worker, bool]:
        """(worker, holds the owner's run): the one holding the owner's last run for resume/fit_prior, else a new
        one (ending the owner's previous worker, then the least recently used idle one beyond the cap)."""
        gone = []
        with self._lock:
            run = self._runs.get(job.owner)
            own = next((w for w in self._workers if w.owner == job.owner and not w.busy and w.alive()), None)
            if own and job.spec.kind != "train" and run and own.run_id == run.id:
                own.busy = True
                return own, True
            if own:
                gone.append(own)
            idle = sorted((w for w in self._workers if not w.busy and w is not own), key=lambda w: w.last_used)
            while len(self._workers) - len(gone) >= self.max_workers and idle:
                gone.append(idle.pop(0))
            self._workers = [w for w in self._workers if w not in gone]
            w = _Worker(self.threads, self.nice)
            w.owner, w.busy = job.owner, True
            self._workers.append(w)
        _quit_all(gone)
        return w, False

    def _drive(self, job: Job) -> None:
        """Run ``job`` on a worker, relaying its messages, enforcing Stop; always ends the job."""
        spec, w = job.spec, None
        try:
            w, holds_run = self._worker_for(job)
            if spec.kind == "resume" and not holds_run:  # the worker was recycled: go on from the saved weights
                run = self._runs[job.owner]
                cfg = spec.cfg if spec.cfg.time_limit_s is None else dataclasses.replace(
                    spec.cfg, time_limit_s=max(1.0, spec.cfg.time_limit_s - run.seconds))  # a fresh state counts from 0
                spec = dataclasses.replace(spec, kind="train", init_path=run.ckpt_path, init=run.spec.name, cfg=cfg)
                job.progress.notes.append("ℹ️ This run's training state was released to free memory; it goes on "
                                          "from its saved weights with a fresh optimiser.")
            job._emit("starting", None)
            w.send("job", spec)
            t0, state, message, asked, began = time.time(), "failed", "the worker ended unexpectedly", 0.0, False
            acked, cap = False, (spec.cfg.time_limit_s or 3600.0) + JOB_GRACE_S
            while True:
                if job.stop_requested and not began:  # still starting or reading images: nothing
                    w.kill()  # to save, so end the worker at once
                    job.forced = True
                    state, message = "stopped", "Stopped before training began."
                    break
                if job.stop_requested and not asked:
                    w.send("stop")
                    asked = time.time()
                if asked and time.time() - asked > (STOP_SAVE_S if acked else STOP_GRACE_S):
                    w.kill()
                    job.forced = True
                    state, message = "stopped", "stopped by the user (the worker was ended; the model keeps " \
                                                "the weights it last saved)"
                    break
                if time.time() - t0 > cap:
                    w.kill()
                    job.forced = True
                    message = f"ended after {cap:.0f}s, past the job's time cap"
                    break
                msg = w.recv(0.1)
                if msg is None:
                    if not w.hello and time.time() - t0 > START_TIMEOUT_S:
                        w.kill()
                        message = "the training worker did not start"
                        break
                    continue
                kind = msg[0]
                if kind == "hello":
                    w.hello = True
                elif kind == "stopping":
                    acked = True
                elif kind == "started":
                    began, job.progress.info = True, msg[1]
                    total = msg[1].get("total_steps", 0) - msg[1].get("step0", 0)
                    job.progress.every = max(job.progress.every, total // 300)
                    job._emit("started", msg[1])
                elif kind == "event":
                    ev = _unpack(msg[1])
                    job.progress.add(ev)
                    job._emit("event", ev)
                elif kind == "done":
                    job.result = msg[1]
                    user_stop = "stopped early by the user" in msg[1].get("message", "")
                    state, message = ("stopped" if user_stop else "finished"), msg[1].get("message", "")
                    break
                elif kind in ("error", "cancelled"):
                    state, message = ("stopped" if kind == "cancelled" else "failed"), msg[1]
                    break
                elif kind == "gone":
                    break
            if job.result.get("ckpt_path"):
                with self._lock:
                    run = self._runs.get(job.owner)
                    if spec.kind == "train":
                        run = self._runs[job.owner] = Run(job.id, spec, job.progress)
                    elif spec.kind == "resume" and run is not None:
                        run.spec = spec  # Resume may save under a new name: later fits and resumes use it
                    if run is not None:
                        run.ckpt_path, run.step = job.result["ckpt_path"], job.result.get("step", run.step)
                        run.seconds = job.result.get("seconds", run.seconds)
                        if spec.kind == "train" and w.alive():
                            w.run_id = run.id
            job._emit("end", state, state=state, message=message)
        except Exception as e:  # never leave a job hanging, nor its worker running on
            job.forced = True
            job._emit("end", "failed", state="failed", message=f"{type(e).__name__}: {e}")
        finally:
            job.ended = time.time()
            with self._lock:
                self._jobs.pop(job.id, None)
                if w is not None:
                    w.busy, w.last_used = False, time.time()
                    if not w.alive() or job.forced:
                        if w in self._workers:
                            self._workers.remove(w)
                        w.kill()
                self._pump()
            self._announce_positions()


# ---- events across the process boundary -----------------------------------------------------------------
def _pack(ev: TrainEvent) -> dict:
    d = dataclasses.asdict(dataclasses.replace(ev, samples=None))
    if ev.samples is not None:
        d["samples"] = (ev.samples.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return d


def _unpack(d: dict) -> TrainEvent:
    """A TrainEvent whose grid stays (C, H, W) uint8 (a quarter of the memory; /255 where it is drawn)."""
    samples = d.pop("samples", None)
    ev = TrainEvent(**d)
    if samples is not None:
        ev.samples = torch.from_numpy(np.asarray(samples))
    return ev


# ---- the worker process -----------------------------------------------------------------------------------
def load_spec_data(data: dict, should_stop=None, deadline: float | None = None):
    """The training images a spec names: built-in data by name, a visitor's zip/folder within the decode
    budgets (cancellable, time-boxed)."""
    from . import data as D

    kw = dict(data)
    name = kw.pop("name")
    if name in ("mnist", "mnist5k"):
        data = D.load_data(name, **kw)
    else:
        data = D.load_data(name, **kw, should_stop=should_stop, max_pixels=DATA_PIXELS, deadline=deadline)
    if len(data) < MIN_IMAGES:
        raise ValueError(f"only {len(data)} readable training images; at least {MIN_IMAGES} are needed")
    return data


def _work(conn: Connection) -> None:
    """Serve jobs until told to quit or the parent is gone; a stop flag set by a reader thread."""
    from . import data as D, registry
    from .train import planned_steps, steps_per_epoch, train
    from .training.history import WarmStart

    stop, jobs, alive, sending = threading.Event(), deque(), threading.Event(), threading.Lock()

    def send(*msg):  # the reader thread acknowledges stops while the main thread streams events
        with sending:
            conn.send(msg)

    alive.set()
    have = threading.Condition()

    def reader():
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):  # the app is gone: stop, and do not outlive it for long
                threading.Timer(STOP_SAVE_S, os._exit, args=(0,)).start()
                msg = ("quit",)
            if msg[0] == "stop":
                stop.set()
                send("stopping",)
                continue
            with have:
                if msg[0] == "quit":
                    alive.clear()
                    stop.set()
                else:
                    stop.clear()  # a Stop sent after this job is for this job
                    jobs.append(msg[1])
                have.notify()
            if msg[0] == "quit":
                return

    threading.Thread(target=reader, daemon=True).start()
    send("hello",)
    data, state = None, None
    while True:
        with have:
            have.wait_for(lambda: jobs or not alive.is_set())
            if not alive.is_set():
                return
            spec: JobSpec = jobs.popleft()
        try:
            t0 = time.time()
            if spec.kind == "train" or spec.kind == "fit_prior" and data is None:
                try:
                    data = load_spec_data(spec.data, stop.is_set, time.monotonic() + min(
                        DATA_TIME_S, spec.cfg.time_limit_s or DATA_TIME_S))
                except (ValueError, OSError) as e:
                    send("error", f"Could not read the training images: {e}")
                    continue
                state = TrainState() if spec.kind == "train" else state
            elif state is None or data is None:
                raise ValueError("nothing to continue in this worker")
            if spec.kind == "fit_prior":
                send("done", _fit_prior(spec, data))
                continue
            cfg = spec.cfg
            if cfg.time_limit_s is not None:  # decoding the images counts in the job's time cap
                cfg = dataclasses.replace(cfg, time_limit_s=max(1.0, cfg.time_limit_s - (time.time() - t0)))
            model = init = None
            if spec.kind == "train" and spec.init_path:  # a continued model: its card keeps every phase
                model, meta = registry.warm_start(spec.init_path, spec.family)
                init = WarmStart(spec.init or spec.init_path, meta["recipe"])
            spe, step0 = steps_per_epoch(spec.family, cfg.batch_size, len(data)), state.step
            total = planned_steps(cfg, spe, step0)
            send("started", {"data": data.name, "images": len(data), "skipped": data.skipped,
                                   "steps_per_epoch": spe, "total_steps": total, "step0": step0,
                                   "decode_s": round(time.time() - t0, 2)})
            last = None
            for ev in train(spec.family, data, cfg, model_config=spec.model_config, model=model, name=spec.name,
                            out=spec.out, should_stop=stop.is_set, state=state, init=init):
                send("event", _pack(ev))
                last = ev
            send("done", {"ckpt_path": state.ckpt_path, "step": state.step, "seconds": state.seconds,
                                "message": last.message if last else "", "kind": last.kind if last else ""})
        except D.DecodeCancelled:
            send("cancelled", "Stopped while reading the images.")
        except (ValueError, RuntimeError) as e:
            send("error", f"Training failed: {e}")
        except Exception as e:  # report, keep serving
            send("error", f"Training failed: {type(e).__name__}: {e}")


def _quit_all(workers: list[_Worker]) -> None:
    """End workers outside the service lock (each may take seconds)."""
    for w in workers:
        w.quit()


def _fit_prior(spec: JobSpec, data) -> dict:
    """Fit a checkpoint's latent mixture (a DCGAN's, or a VAE's to the aggregate posterior of ``data``),
    measuring sampling before (N(0, I)) and after on ``data``."""
    import copy

    from . import registry
    from .train import evaluate

    p, seed, n = spec.prior, spec.cfg.seed, spec.prior["eval_samples"]
    plain = registry.from_checkpoint(spec.out)
    plain.clear_prior()  # "before" is always N(0, I), also when the run was fitted already
    before = evaluate(plain, data, n, seed)
    path, info = registry.fit_prior(spec.out, p["components"], p["samples"], seed=seed, data=data,
                                    measure=lambda net: evaluate(copy.deepcopy(net), data, n, seed))
    return {"ckpt_path": str(path), "info": info, "before": before,
            "after": registry.load(str(path)).card["metrics"]}


def main(argv: list[str]) -> None:
    fd, nice = int(argv[0]), int(argv[1]) if len(argv) > 1 else 10
    try:
        os.nice(nice)  # interactive requests first
    except OSError:
        pass
    from .device import cpu_quota

    torch.set_num_threads(cpu_quota())
    _work(Connection(fd))


if __name__ == "__main__":
    main(sys.argv[1:])
