"""Train tab: the callbacks directly, then the running app through gradio_client (tiny runs, seconds each)."""
from __future__ import annotations

import math
import time

import gradio as gr
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError

import imggen
from imggen.convert import png_bytes, to01, to_pil
from imggen.data import load_data, zip_bytes
from imggen.ui import train_tab as tt

import imagefiles
from train_settings import settings


@pytest.fixture(autouse=True)
def tiny(monkeypatch, tmp_path_factory):
    monkeypatch.setattr("imggen.ui.train_jobs.RUNS_DIR", tmp_path_factory.mktemp("runs"))
    monkeypatch.setattr("imggen.ui.train_run.EVAL_SAMPLES", 100)


def is_file(out) -> bool:
    """A real value (downloaded path or file dict), not a gr.skip() update."""
    return isinstance(out, str) or isinstance(out, list) and bool(out) or isinstance(out, dict) and "path" in out


def loss_values(plot_payload) -> list[float]:
    return [row[1] for row in plot_payload["value"]["data"]] if plot_payload and plot_payload.get("value") else []


# ---- callbacks --------------------------------------------------------------------------------------------
def test_presets_fill_every_setting():
    for fam in tt.family_labels():
        for preset in (tt.QUICK, tt.QUALITY):
            v = tt.preset_values(fam, preset)
            assert set(tt._PRESET_KEYS) <= set(v)
            over = tt.model_overrides(tt.family_labels()[fam], v["latent_dim"], v["width"], v["spectral_norm"])
            imggen.build(tt.family_labels()[fam], **over)  # every override is a real config field
    custom = tt._apply_preset("VAE", tt.CUSTOM)  # custom leaves the fields (gr.skip), the epochs note follows
    assert custom[0].info == "passes over the training images" and custom[1] is not None
    forest = tt._apply_preset("Adversarial random forest", tt.QUICK)
    assert forest[0].value == 3 and "adversarial round" in forest[0].info


@pytest.mark.slow
def test_depth_reaches_gan_configs_only():
    assert tt.model_overrides("dcgan", 16, 8, True, 2)["blocks"] == 2
    assert imggen.build("cgan", **tt.model_overrides("cgan", 16, 8, True, 1)).config.blocks == 1
    assert "blocks" not in tt.model_overrides("vae", 16, 8, True, 2)
    with pytest.raises(gr.Error, match="Extra conv layers"):
        tt.check_settings(1, 32, 1e-3, 1e-3, 16, 8, 1, depth=tt.MAX_DEPTH + 1)
    tt.arm()
    outs = list(tt.start_training(**settings(epochs=1, depth=1, name="tiny-deep")))
    assert "finished" in outs[-1][1]
    assert imggen.list_models()["tiny-deep"]["config"]["blocks"] == 1  # the trained model has the extra layers


@pytest.mark.parametrize("over, match", [
    (dict(epochs=0), "Epochs"), (dict(epochs=tt.MAX_EPOCHS + 1), "Epochs"), (dict(name="bad name!"), "name"),
    (dict(max_images=10**6), "Max images"), (dict(family="Diffusion"), "Unknown model family"),
    (dict(data_source=tt.DATA_ZIP), "Upload a .zip"), (dict(lr=5.0), r"Learning rate \(G / model\)"),
    (dict(epochs="many"), "Epochs must be a whole number"), (dict(lr_d=None), r"Learning rate \(D\) must be a number"),
    (dict(lr=float("nan")), "Learning rate"), (dict(batch_size=1), "Batch size"), (dict(width="x"), "Width"),
    (dict(max_images="lots"), "Max images"),
])
def test_limits_are_clear_errors(over, match):
    with pytest.raises(gr.Error, match=match):
        next(tt.start_training(**settings(**over)))


@pytest.mark.slow
def test_zip_limits(tmp_path, monkeypatch):
    empty = tmp_path / "empty.zip"
    empty.write_bytes(zip_bytes({"readme.txt": b"no images here"}))
    with pytest.raises(gr.Error, match="no images"):
        next(tt.start_training(**settings(data_source=tt.DATA_ZIP, zip_file=str(empty))))
    notzip = tmp_path / "x.zip"
    notzip.write_bytes(b"not a zip")
    with pytest.raises(gr.Error, match="not a .zip"):
        next(tt.start_training(**settings(data_source=tt.DATA_ZIP, zip_file=str(notzip))))
    allbad = tmp_path / "bad.zip"
    allbad.write_bytes(zip_bytes({f"{i}.png": b"garbage" for i in range(3)}))
    with pytest.raises(gr.Error, match="Could not read the training images: .*no readable images"):
        list(tt.start_training(**settings(data_source=tt.DATA_ZIP, zip_file=str(allbad))))
    monkeypatch.setattr("imggen.ui.train_run.MAX_UPLOAD_MB", 0)
    with pytest.raises(gr.Error, match="limit is 0 MB"):
        next(tt.start_training(**settings(data_source=tt.DATA_ZIP, zip_file=str(empty))))


def test_emoji_data_sources():
    """The built-in colour emoji are offered beside MNIST; picking them sets their size and RGB, and the worker
    loads exactly what the tab asks for (fast: no run)."""
    from imggen import jobs

    with gr.Blocks() as demo:
        tt.render()
    data = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "train-data")
    assert [c[0] for c in data.choices][-3:] == [*tt.DATA_EMOJI, tt.DATA_ZIP]
    assert any(f.fn is tt._data_format for f in demo.fns.values())  # a pick sets size and colour
    assert tt.data_format(tt.DATA_5K) == (28, "grayscale") and tt.data_format(tt.DATA_ZIP) is None
    for label, name in tt.DATA_EMOJI.items():
        size, color = tt._data_format(label)
        assert (size, color) == ({"emoji32": 32, "emoji64": 64}[name], "RGB")
        spec, n = tt.run_data(label, None, size, color, 24)
        assert spec == dict(name=name, split="train", image_size=size, channels=3, limit=24) and n == 24
        images = jobs.load_spec_data(spec)
        assert images.images.shape == (24, 3, size, size) and images.num_classes == 10 and len(images.captions) == 24


@pytest.mark.slow
def test_emoji_data_trains_in_colour():
    """A tiny run on emoji32 through the tab trains a 32 px RGB model."""
    tt.arm()
    outs = list(tt.start_training(**settings(data_source=list(tt.DATA_EMOJI)[0], image_size=32, color="RGB",
                                             max_images=16, epochs=1, batch_size=8, name="tiny-emoji")))
    assert "finished" in outs[-1][1]
    card = imggen.list_models()["tiny-emoji"]
    assert (card["config"]["image_size"], card["config"]["channels"]) == (32, 3)
    assert imggen.load("tiny-emoji").sample(2).shape == (2, 3, 32, 32)


def test_stop_ends_run_and_keeps_model():
    tt.arm()
    gen = tt.start_training(**settings(epochs=20, name="tiny-stopped"))
    for out in gen:
        if " · step " in out[1]:  # training has begun (in its worker process)
            break
    t0 = time.time()
    assert "Stopping" in tt.stop_training()
    outs = list(gen)
    assert time.time() - t0 < 5 and "stopped early by the user" in outs[-1][1]  # at the next step
    assert "tiny-stopped" in imggen.list_models() and len(outs[-1][7]) == 2  # weights + GIF to download
    assert 1 <= imggen.list_models()["tiny-stopped"]["recipe"]["steps"] < 80
    tt.arm()
    tt.stop_training()  # Stop while the Start is on its way: the job ends before it starts
    assert "before it started" in list(tt.start_training(**settings()))[-1][1]
    assert "Nothing is training" in tt.stop_training()


def test_divergence_is_reported_and_weights_kept(tmp_path):
    """What the worker reports when a loss turns NaN (the loop keeps the last good weights) reaches the tab."""
    from imggen import jobs
    from imggen.train import TrainConfig, TrainEvent

    path = tmp_path / "tiny-nan.safetensors"
    imggen.checkpoint.save(imggen.build("dcgan", g_width=8, d_width=8), path, family="dcgan",
                           config={"g_width": 8, "d_width": 8})
    job = jobs.Job(None, jobs.JobSpec("train", "dcgan", {}, TrainConfig(), "tiny-nan", str(path)), jobs.Progress())
    msg = "loss became NaN/inf at step 3; stopped and kept the weights from the last good epoch"
    job.progress.info = {"data": "mnist5k", "images": 256, "steps_per_epoch": 4, "total_steps": 8}
    job._emit("started", job.progress.info, state="running")
    job._emit("event", TrainEvent("error", 3, 0.75, {"loss/D": math.nan}, message=msg))
    job.result = {"ckpt_path": str(path)}
    job._emit("end", "finished", state="finished", message=msg)
    outs = list(tt.stream(job, lambda *a, **k: None))
    assert "NaN" in outs[-1][1] and "diverged" in outs[-1][6] and "tiny-nan" in imggen.list_models()


@pytest.mark.slow
def test_fit_prior_to_the_sessions_dcgan_run(monkeypatch):
    from dataclasses import replace

    from imggen.convert import read_recipe

    monkeypatch.setattr("imggen.ui.train_run.PRIOR_SAMPLES", 600)
    tt.service().forget(None)
    with pytest.raises(gr.Error, match="Nothing to fit"):
        next(tt.fit_run_prior(4))
    tt.arm()
    list(tt.start_training(**settings(name="tiny-prior")))
    plain = imggen.load("tiny-prior").sample(8, seed=3)
    grid_img, status, note, files = list(tt.fit_run_prior(4))[-1]
    card = imggen.list_models()["tiny-prior"]
    k = card["config"]["prior_components"]
    assert 2 <= k <= 4 and card["prior"]["samples"] == 600 and f"{k}-component latent mixture" in status
    assert {"fd", "coverage", "confident_fraction"} <= set(card["metrics"])  # measured with the mixture
    assert "| classifier FD ↓ |" in note and "| metric | N(0, I) | mixture |" in note
    assert read_recipe(grid_img)["prior_components"] == k and files[0].endswith("tiny-prior.safetensors")
    assert files[1].endswith("tiny-prior-progress.gif")  # the run's GIF stays offered beside the new weights
    mixed = imggen.load("tiny-prior").sample(8, seed=3)  # every tab loads it with the mixture now
    assert mixed.shape == plain.shape and not torch.equal(mixed, plain)
    assert torch.equal(mixed, imggen.load("tiny-prior").sample(8, seed=3))
    def before(md: str) -> dict:  # metric -> the N(0, I) column of the note's table
        return {r.split("|")[1]: r.split("|")[2] for r in md.splitlines() if r.startswith("| ") and "---" not in r}

    again = list(tt.fit_run_prior(3))[-1][2]  # a second fit compares with N(0, I) again, not with the first mixture
    assert before(again) == before(note) and " classifier FD ↓ " in before(note)
    with pytest.raises(gr.Error, match="Mixture components must be between 2 and"):
        next(tt.fit_run_prior(tt.MAX_PRIOR_COMPONENTS + 1))
    run = tt.service().run_of(None)
    run.spec = replace(run.spec, family="cgan")
    with pytest.raises(gr.Error, match="is a cgan model; a fitted latent mixture is for DCGANs"):
        next(tt.fit_run_prior(4))


@pytest.mark.slow
def test_continue_a_registered_model():
    tt.arm()
    list(tt.start_training(**settings(epochs=1, name="tiny-base")))
    assert imggen.list_models()["tiny-base"]["recipe"]["steps"] == 4
    assert all(v is not None and not isinstance(v, (int, float, str)) for v in tt.init_settings(tt.NEW, "tiny-base"))
    shown = dict(zip(["family", "size", "color", "latent", "width", "depth", "sn", "lr", "lr_d", "loss"],
                     tt.init_settings(tt.CONTINUE, "tiny-base")))
    assert shown == dict(family="DCGAN", size=28, color="grayscale", latent=16, width=8, depth=0, sn=True, lr=2e-4,
                         lr_d=2e-4, loss="hinge")  # the panel shows the model's own settings
    vae = tt.init_settings(tt.CONTINUE, "vae-mnist")
    assert vae[0] == "VAE" and not isinstance(vae[9], str)  # no GAN loss to show for a VAE: the radio is left alone
    tt.arm()  # a rate of ~0 keeps the weights: the run starts from the model's, not from a fresh network
    outs = list(tt.start_training(**settings(epochs=1, lr=1e-12, lr_d=1e-12, latent_dim=99, name="tiny-more",
                                             start_from=tt.CONTINUE, init_model="tiny-base")))
    first = next(o[1] for o in outs if isinstance(o[1], str))  # (heartbeats before it change nothing)
    assert first.startswith("Continuing 'tiny-base' as dcgan") and "finished" in outs[-1][1]
    card = imggen.list_models()["tiny-more"]
    assert card["config"]["latent_dim"] == 16  # the architecture is the model's; the latent size field is ignored
    rec = card["recipe"]
    assert rec["init"] == "tiny-base" and [h["steps"] for h in rec["history"]] == [4, 4] and rec["steps"] == 8
    assert [h["lr"] for h in rec["history"]] == [2e-4, 1e-12] and rec["sessions"] == 2
    a, b = imggen.load("tiny-base").net.state_dict(), imggen.load("tiny-more").net.state_dict()
    params = [k for k, v in imggen.load("tiny-base").net.named_parameters() if v.requires_grad]
    assert params and all(torch.allclose(a[k], b[k], atol=1e-5) for k in params)
    tt.arm()
    fresh = list(tt.start_training(**settings(epochs=1, lr=1e-12, lr_d=1e-12, seed=5, name="tiny-fresh")))
    c = imggen.load("tiny-fresh").net.state_dict()
    assert "finished" in fresh[-1][1] and not all(torch.allclose(a[k], c[k], atol=1e-5) for k in params)


@pytest.mark.parametrize("over, match", [
    (dict(init_model="tiny-nope"), "unknown model 'tiny-nope'"),
    (dict(init_model=None), "No model selected"),
    (dict(init_model="classifier-mnist"), "unknown model"),  # the metric network is not a registered model
    (dict(family="VAE"), "'cgan-mnist' is a Conditional GAN model: pick that family"),
    (dict(family="Conditional GAN", image_size=32), "makes 28 px grayscale images"),
])
def test_continue_errors(over, match):
    with pytest.raises(gr.Error, match=match):
        next(tt.start_training(**settings(**{"start_from": tt.CONTINUE, "init_model": "cgan-mnist", **over})))


@pytest.mark.slow
def test_conditional_family_needs_labelled_images(tmp_path):
    z = tmp_path / "flat.zip"  # images without class subfolders
    z.write_bytes(zip_bytes({f"{i}.png": imagefiles.gray_png() for i in range(12)}))
    tt.arm()
    with pytest.raises(gr.Error, match="needs a class for every image.*subfolder"):
        list(tt.start_training(**settings(family="Conditional GAN", data_source=tt.DATA_ZIP, zip_file=str(z),
                                          max_images=12, batch_size=8, name="tiny-flat")))


# ---- through the running app --------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_streams_grids_and_registers(client, monkeypatch):
    job = client.submit(**settings(name="tiny-client"), api_name="/train")
    outs = list(job)
    grids = [o[0] for o in outs if is_file(o[0])]
    assert len(grids) >= 2  # one per epoch
    assert "finished" in outs[-1][1] and "tiny-client" in outs[-1][1]
    values = loss_values(outs[-1][2])
    assert values and all(math.isfinite(v) for v in values)
    assert "tiny-client" not in imggen.list_models()  # it is the visitor's: not the process's, nobody else's
    mine = client.session_hash
    assert "tiny-client" in imggen.list_models(owner=mine)
    x = imggen.load("tiny-client", owner=mine).sample(4, seed=1)
    assert x.shape == (4, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    from imggen.ui import sample as sample_tab  # the Sample tab's callback draws from it too

    with imggen.registry.acting_as(mine):
        grid_png, gallery, info, recipe = sample_tab.sample("tiny-client", 4, 1, None, 1.0)
    assert len(gallery) == 4 and "tiny-client" in info
    assert is_file(outs[-1][7]) and any(str(f).endswith(".gif") for f in outs[-1][7])
    monkeypatch.setattr("imggen.ui.train_run.PRIOR_SAMPLES", 600)  # the same visitor fits a latent mixture to that run
    grid_file, status, note, files = client.predict(3, api_name="/fit_prior")
    assert is_file(grid_file) and "latent mixture to 'tiny-client'" in status and "| mixture |" in note
    assert imggen.list_models(owner=mine)["tiny-client"]["prior"]["samples"] == 600


@pytest.mark.slow
def test_cancel_is_prompt_keeps_model_and_resumes(client):
    mine = client.session_hash
    job = client.submit(**settings(epochs=30, name="tiny-cancel"), api_name="/train")
    for out in job:
        if is_file(out[0]):  # first epoch's grid arrived
            break
    t0 = time.time()
    job.cancel()
    while not job.done() and time.time() - t0 < 15:
        time.sleep(0.1)
    assert time.time() - t0 < 15
    deadline = time.time() + 15  # the server saves the model as the job stops
    while "tiny-cancel" not in imggen.list_models(owner=mine) and time.time() < deadline:
        time.sleep(0.2)
    card = imggen.list_models(owner=mine)["tiny-cancel"]
    steps = card["recipe"]["steps"]
    assert 4 <= steps < 120
    outs = list(client.submit(1, "tiny-cancel", api_name="/resume"))  # one more epoch from where it stopped
    assert "finished" in outs[-1][1]
    assert imggen.list_models(owner=mine)["tiny-cancel"]["recipe"]["steps"] > steps


@pytest.mark.slow
def test_zip_with_bad_files_trains_on_good_ones(client, tmp_path):
    files = {f"{i}-{name}": make() for i in range(2) for name, make in imagefiles.GOOD.items()}  # 18 good
    files.update({name: make() for name, make in imagefiles.BAD.items()})  # 4 bad
    files["notes.txt"] = b"not an image file name: ignored, not counted"
    z = tmp_path / "mine.zip"
    z.write_bytes(zip_bytes(files))
    outs = list(client.submit(**settings(data_source=tt.DATA_ZIP, zip_file=handle_file(str(z)), image_size=32,
                                         color="RGB", epochs=1, batch_size=8, name="tiny-zip"), api_name="/train"))
    assert any("4 unreadable files skipped" in o[1] for o in outs) and "Skipped 4" in outs[-1][6]
    assert "finished" in outs[-1][1]
    assert imggen.load("tiny-zip", owner=client.session_hash).sample(2).shape == (2, 3, 32, 32)


def test_empty_zip_is_a_clear_error(client, tmp_path):
    z = tmp_path / "empty.zip"
    z.write_bytes(zip_bytes({"readme.txt": b"nothing"}))
    with pytest.raises(AppError, match="no images"):
        client.predict(**settings(data_source=tt.DATA_ZIP, zip_file=handle_file(str(z))), api_name="/train")


@pytest.mark.slow
def test_one_job_at_a_time_and_other_tabs_stay_responsive(client):
    from gradio_client import Client

    first = client.submit(**settings(epochs=30, name="tiny-long"), api_name="/train")
    for out in first:
        if is_file(out[0]):
            break
    other = Client(client.src, verbose=False, download_files=False)  # a second visitor
    second = other.submit(**settings(epochs=1, name="tiny-waiting"), api_name="/train")
    deadline = time.time() + 20
    while not any("Waiting for the trainer: 1 training(s) ahead" in o[1] for o in second.outputs()) \
            and time.time() < deadline:
        time.sleep(0.1)
    assert any("Waiting for the trainer: 1 training(s) ahead" in o[1] for o in second.outputs())  # sees its place
    with pytest.raises(AppError, match="You already have a training"):  # one job per visitor
        other.predict(**settings(epochs=1, name="tiny-twice"), api_name="/train")
    t0 = time.time()
    other.predict(None, api_name="/models_refresh")  # other tabs answer while one training runs and one waits
    other.predict("dcgan-mnist", 4, 0, None, 1.0, api_name="/sample")
    assert time.time() - t0 < 20 and not first.done()
    first.cancel()
    outs = list(second)  # the waiting job runs once the first is gone
    assert "finished" in outs[-1][1]


@pytest.mark.slow
def test_fine_tuning_a_digit_model_reads_digit_folders_as_digits(tmp_path):
    """Folders "3" and "7" fine-tune a 10-class model's classes 3 and 7 (not 0 and 1), so the run is measured
    like digits (classifier FD and coverage, not the sliced Wasserstein distance of other images)."""
    tt.arm()
    list(tt.start_training(**settings(family="Conditional GAN", epochs=1, name="tiny-cgan")))
    digits = load_data("mnist5k", split="train", limit=64)
    files = {f"{int(y)}/{i}.png": png_bytes(to_pil(to01(x))) for i, (x, y) in enumerate(zip(digits.images, digits.labels))
             if int(y) in (3, 7)}
    z = tmp_path / "mine.zip"
    z.write_bytes(zip_bytes(files))
    tt.arm()
    outs = list(tt.start_training(**settings(family="Conditional GAN", data_source=tt.DATA_ZIP, zip_file=str(z),
                                             max_images=len(files), batch_size=4, epochs=1, name="tiny-37",
                                             start_from=tt.CONTINUE, init_model="tiny-cgan")))
    assert "finished" in outs[-1][1]
    metrics = imggen.list_models()["tiny-37"]["metrics"]
    assert "fd" in metrics and "swd" not in metrics


@pytest.mark.slow
def test_two_visitors_one_name_and_typed_paths_refused(client):
    """Two visitors both train "same-name": each keeps their own model, a third sees neither, and a checkpoint
    path typed into a model box is refused, not loaded."""
    from gradio_client import Client

    other = Client(client.src, verbose=False, download_files=False)
    for c, seed in ((client, 0), (other, 1)):
        outs = list(c.submit(**settings(epochs=1, seed=seed, name="same-name"), api_name="/train"))
        assert "finished" in outs[-1][1]
    a, b = client.session_hash, other.session_hash
    xa = imggen.load("same-name", owner=a).sample(4, seed=0)
    assert not torch.equal(xa, imggen.load("same-name", owner=b).sample(4, seed=0))  # b did not replace a's
    assert imggen.list_models(owner=a)["same-name"]["recipe"]["seed"] == 0
    third = Client(client.src, verbose=False, download_files=False)
    with pytest.raises(AppError, match="unknown model"):
        third.predict("same-name", 4, 0, None, 1.0, api_name="/sample")
    path = imggen.list_models(owner=a)["same-name"]["path"]
    with pytest.raises(AppError, match="unknown model"):
        third.predict(path, 4, 0, None, 1.0, api_name="/sample")
    with pytest.raises(AppError, match="unknown model"):
        third.predict(path, "Random seed", 0, None, None, "Random seed", 1, None, None, "slerp", 5, 8,
                      api_name="/interpolate")
    with pytest.raises(AppError, match="Publish: .*shipped model"):
        client.predict("same-name", "dcgan-mnist", api_name="/publish")
    assert "Published 'shared-same'" in client.predict("same-name", "shared-same", api_name="/publish")
    with pytest.raises(AppError, match="already published"):
        other.predict("same-name", "shared-same", api_name="/publish")
    x3 = third.predict("shared-same", 4, 0, None, 1.0, api_name="/sample")
    assert x3 is not None
    imggen.registry.unpublish("shared-same")
