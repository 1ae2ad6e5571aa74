"""The job service and visitors' workspaces (issue 24): several visitors at once, as a Space serves them."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

import imggen
from imggen import checkpoint, jobs, registry, storage
from imggen.data import zip_bytes
from imggen.train import TrainConfig

import imagefiles


def spec(folder, name, *, epochs=1, seed=0, data=None) -> jobs.JobSpec:
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=2e-4, seed=seed, log_every=1, eval_samples=0, num_grid=16)
    data = data or dict(name="mnist5k", split="train", image_size=28, channels=1, limit=256)
    return jobs.JobSpec("train", "dcgan", data, cfg, name, str(folder / f"{name}.safetensors"),
                        dict(g_width=8, d_width=8, latent_dim=16))


def finish(job: jobs.Job, timeout: float = 240) -> jobs.Job:
    t0 = time.time()
    for _ in job.follow():
        assert time.time() - t0 < timeout, f"{job.id} still {job.state}"
    return job


def began(job: jobs.Job, timeout: float = 120) -> None:
    """Wait until the job's worker trains (its first step event)."""
    t0 = time.time()
    for item in job.follow():
        if item and item[0] == "event":
            return
        assert time.time() - t0 < timeout and not job.done, f"{job.id}: {job.state} {job.message}"


@pytest.fixture(scope="module")
def svc():
    s = jobs.JobService(max_running=1, max_waiting=1, max_workers=2, threads=1, nice=0)
    yield s
    s.shutdown()


@pytest.mark.slow
def test_same_seed_same_weights_whatever_other_visitors_do(svc, tmp_path):
    """Training draws only from its own process: models loaded and networks built by other visitors meanwhile
    (which draw from the app's RNG) leave the trained weights bit-identical."""
    solo = finish(svc.submit("solo", spec(tmp_path, "solo", epochs=2, seed=3)))
    busy, stop = [], threading.Event()

    def other_visitors():
        while not stop.is_set():
            registry.load.cache_clear()
            registry.load("vae-mnist").sample(4, seed=1)
            imggen.build("dcgan", g_width=8, d_width=8)  # initialising a network draws from the global RNG
            torch.randn(100)
            busy.append(1)
            time.sleep(0.05)

    threads = [threading.Thread(target=other_visitors, daemon=True)]
    for t in threads:
        t.start()
    try:
        loaded = finish(svc.submit("busy", spec(tmp_path, "busy", epochs=2, seed=3)))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert solo.state == loaded.state == "finished" and len(busy) > 2
    a, b = load_file(solo.result["ckpt_path"]), load_file(loaded.result["ckpt_path"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = finish(svc.submit("solo", spec(tmp_path, "other-seed", epochs=2, seed=4)))
    c = load_file(other.result["ckpt_path"])
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the check can fail: another seed gives other weights


@pytest.mark.slow
def test_one_job_per_visitor_bounded_queue_and_stop_names_its_job(svc, tmp_path):
    first = svc.submit("a", spec(tmp_path, "a-long", epochs=50))
    with pytest.raises(jobs.JobError, match="You already have a training"):  # a second Start is refused...
        svc.submit("a", spec(tmp_path, "a-again"))
    waiting = svc.submit("b", spec(tmp_path, "b-waits"))
    assert waiting.state == "waiting"
    with pytest.raises(jobs.JobError, match="server is busy"):  # one running + max_waiting=1 waiting
        svc.submit("c", spec(tmp_path, "c-full"))
    began(first)
    assert svc.stop("c") == "Nothing is training in this session."  # nobody stops another's job
    assert svc.stop("b") == "Stopped before it started." and waiting.state == "stopped"
    t0 = time.time()
    assert "Stopping" in svc.stop("a")  # ... so Stop after a second Start stops the job that runs
    finish(first, timeout=10)
    assert time.time() - t0 < 5 and first.state == "stopped" and "stopped early by the user" in first.message
    assert checkpoint.read_metadata(first.result["ckpt_path"])["recipe"]["steps"] >= 1  # the model is kept


@pytest.mark.slow
def test_stop_while_the_worker_reads_images_is_immediate(svc, tmp_path):
    files = {f"{i}.png": imagefiles.GOOD["rgba.png"]() for i in range(400)}
    z = tmp_path / "many.zip"
    z.write_bytes(zip_bytes(files))
    job = svc.submit("d", spec(tmp_path, "d-zip", data=dict(name=str(z), split="train", image_size=28, channels=1,
                                                           limit=400)))
    t0 = time.time()
    while job.state != "running" and time.time() - t0 < 30:
        time.sleep(0.05)
    t1 = time.time()
    svc.stop("d")
    finish(job, timeout=10)
    assert time.time() - t1 < 5 and job.state == "stopped" and "before training began" in job.message


@pytest.mark.slow
def test_a_bad_zip_fails_with_a_clear_message(svc, tmp_path):
    z = tmp_path / "bad.zip"
    z.write_bytes(zip_bytes({f"{i}.png": b"garbage" for i in range(10)}))
    job = finish(svc.submit("e", spec(tmp_path, "e-bad", data=dict(name=str(z), split="train", image_size=28,
                                                                   channels=1, limit=10))))
    assert job.state == "failed" and job.message.startswith("Could not read the training images")


@pytest.mark.slow
def test_resume_goes_on_from_the_weights_when_the_worker_was_recycled(tmp_path):
    s = jobs.JobService(max_running=1, max_waiting=2, max_workers=1, threads=1, nice=0)
    try:
        first = finish(s.submit("a", spec(tmp_path, "a-run")))
        steps = first.result["step"]
        finish(s.submit("b", spec(tmp_path, "b-run")))  # takes the only worker slot
        run = s.run_of("a")
        more = finish(s.submit("a", replace(run.spec, kind="resume", cfg=replace(run.spec.cfg, epochs=1))))
        assert more.state == "finished" and any("fresh optimiser" in n for n in more.progress.notes)
        rec = checkpoint.read_metadata(more.result["ckpt_path"])["recipe"]
        assert rec["steps"] == 2 * steps and len(rec["history"]) == 2  # both phases on the card
    finally:
        s.shutdown()


def _save_tiny(path, seed: int):
    torch.manual_seed(seed)
    return checkpoint.save(imggen.build("dcgan", g_width=8, d_width=8, latent_dim=16), path, family="dcgan",
                           config={"g_width": 8, "d_width": 8, "latent_dim": 16})


def test_two_visitors_one_name(tmp_path):
    """Two visitors who both call their model "my-model" each get their own; a third sees neither; shipped
    names are never shadowed; typed paths are refused inside requests; publishing never replaces a model."""
    a, b = _save_tiny(tmp_path / "a.safetensors", 0), _save_tiny(tmp_path / "b.safetensors", 1)
    registry.register("my-model", a, owner="visitor-a")
    registry.register("my-model", b, owner="visitor-b")
    try:
        with registry.acting_as("visitor-a"):
            xa = imggen.load("my-model").sample(2, seed=0)
        with registry.acting_as("visitor-b"):
            xb = imggen.load("my-model").sample(2, seed=0)
            assert "my-model" in registry.list_models()
        assert not torch.equal(xa, xb)
        with registry.acting_as("visitor-a"):  # b's model did not replace a's
            assert torch.equal(xa, imggen.load("my-model").sample(2, seed=0))
        with registry.acting_as("visitor-c"):
            assert "my-model" not in registry.list_models()
            with pytest.raises(ValueError, match="unknown model"):
                imggen.load("my-model")
            with pytest.raises(ValueError, match="unknown model"):  # a path typed by a visitor is never loaded
                imggen.load(str(a))
        assert imggen.load(str(a)).family == "dcgan"  # the host's own scripts may load files
        with pytest.raises(ValueError, match="shipped model"):
            registry.register("dcgan-mnist", a, owner="visitor-a")
        got = registry.publish("my-model", "shared-one", tmp_path / "public", owner="visitor-a")
        with pytest.raises(ValueError, match="already published"):
            registry.publish("my-model", "shared-one", tmp_path / "public", owner="visitor-b")
        with pytest.raises(ValueError, match="shipped model"):
            registry.publish("my-model", "vae-mnist", tmp_path / "public", owner="visitor-b")
        with registry.acting_as("visitor-c"):
            assert torch.equal(imggen.load(got).sample(2, seed=0), xa)
    finally:
        for owner in ("visitor-a", "visitor-b"):
            registry.unregister("my-model", owner=owner)
        registry.unpublish("shared-one")


def test_expired_workspaces_and_old_outputs_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("IMGGEN_OUTPUT_DIR", str(tmp_path / "out"))
    ws = tmp_path / "ws" / "p1" / "abc"
    ws.mkdir(parents=True)
    old, new = _save_tiny(ws / "old.safetensors", 0), _save_tiny(ws / "new.safetensors", 0)
    host = _save_tiny(tmp_path / "host.safetensors", 0)  # the host's own, registered by a script
    (ws / "old-progress.gif").write_bytes(b"GIF89a")
    long_ago = time.time() - storage.WORKSPACE_TTL_S - 60
    for f in (old, host):
        os.utime(f, (long_ago, long_ago))
    registry.register("old", old, owner="gone")
    registry.register("new", new, owner="here")
    registry.register("host-model", host, owner=None)
    stale = storage.output_file(".gif")
    os.utime(stale, (long_ago, long_ago))
    fresh = storage.output_file(".gif")
    leftover = tmp_path / ".x.safetensors.abc.tmp"  # an interrupted atomic save
    leftover.write_bytes(b"")
    try:
        gone = storage.expire(tmp_path)
        assert gone["models"] >= 1 and gone["outputs"] >= 1
        assert not old.exists() and not (ws / "old-progress.gif").exists() and new.exists()
        assert host.exists() and "host-model" in registry.model_paths(None)  # never the host's files
        assert ("gone", "old") not in registry.workspace_models() and ("here", "new") in registry.workspace_models()
        assert not os.path.exists(stale) and os.path.exists(fresh)
        assert storage.remove_stale_temp(tmp_path) == 1 and not leftover.exists()
    finally:
        registry.unregister("new", owner="here")
        registry.unregister("host-model", owner=None)


def test_threads_follow_the_quota(monkeypatch):
    from imggen.device import cpu_quota

    monkeypatch.setenv("IMGGEN_THREADS", "3")
    assert cpu_quota() == 3
    monkeypatch.delenv("IMGGEN_THREADS")
    monkeypatch.delenv("CPU_CORES", raising=False)
    assert 1 <= cpu_quota() <= len(os.sched_getaffinity(0))


def test_shipped_typicality_references_are_kept(tmp_path):
    """Caches are keyed by file version, but a shipped reference older than its checkpoint (as a fresh clone may
    leave them) is still the one served: it is never rebuilt on a subset."""
    from imggen import anomaly

    ref = registry.CHECKPOINT_DIR / "vae-mnist.anomaly.json"
    before, st = ref.read_bytes(), ref.stat()
    os.utime(ref, (st.st_atime, st.st_mtime - 10**6))
    try:
        anomaly._cache.clear()
        got = anomaly.reference(registry.load("vae-mnist"))
        assert ref.read_bytes() == before and got["num_images"] == __import__("json").loads(before)["num_images"]
    finally:
        os.utime(ref, (st.st_atime, st.st_mtime))
