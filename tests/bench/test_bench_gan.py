"""The GAN benchmarks' code paths on tiny models: bench/gan.py (collapse vs cure), bench/prior.py, bench/refine.py,
bench/jacobian.py — rows, JSON and markdown tables."""
import json
import math

import pytest

from tiny_gan import one_thread, register_tiny  # noqa: F401  (one_thread: an autouse fixture)


@pytest.mark.parametrize("coverage, says", [
    ([1, 8, 10, 10], "all 10 from epoch 3 to the end"),
    ([8, 10, 9, 10], "then below 10 in 1 of the 3 epochs from there (down to 9); all 10 from epoch 4 to the end"),
    ([1, 10, 10, 8], "then below 10 in 1 of the 3 epochs from there (down to 8), 8 at the last epoch"),
    ([1, 5, 9], "never covers all 10 (at most 9)"),
])
def test_bench_coverage_summary_tells_kept_from_lost(load_bench, coverage, says):
    """The collapse-vs-cure summary that the README quotes: a class lost after reaching 10 must show."""
    line = load_bench("gan").coverage_summary([{"coverage": c, "class_entropy": 1.0} for c in coverage])
    assert line.startswith(f"{len(coverage)} epochs;") and line.endswith(says)


@pytest.mark.slow
def test_bench_collapse_recipe_runs_a_few_steps(load_bench):
    """The benchmark's per-recipe path (train, per-epoch coverage, final metrics) on 64 images for 2 steps."""
    from imggen.data import load_data

    train_data = load_data("mnist5k", split="train", limit=64)
    test = load_data("mnist5k", split="test", limit=64)
    r = load_bench("gan").run_recipe("collapse", train_data, test, None, eval_samples=32, epoch_eval=32, seed=0, max_steps=2)
    assert r["steps"] == 2 and r["status"] == "end" and len(r["curve"]) == 2
    assert 1 <= r["curve"][0]["coverage"] <= 10 and 0 <= r["coverage"] <= 10 and math.isfinite(r["fd"])


def test_bench_markdown_of_one_part(load_bench):
    """A collapse-vs-cure-only run (e.g. another seed into its own --out) still gets its markdown table."""
    row = {"recipe": "cure", "about": "x", "steps": 2, "cpu_s": 1.0, "coverage": 10, "class_entropy": 3.3, "fd": 1.0,
           "confident_fraction": 0.9, "class_histogram": [1] * 10,
           "curve": [{"coverage": 10, "class_entropy": 3.3, "fd": 1.0}]}
    args = {"eval_samples": 2, "budget_s": 1, "collapse_steps": 2, "collapse_limit": 64, "epoch_eval": 2, "seed": 1}
    md = load_bench("gan").markdown({"date": "d", "hardware": "h", "data": "mnist5k", "train_images": 64, "test": "mnist5k",
                                "args": args, "side_by_side": [], "collapse_vs_cure": [row]})
    assert "## Mode collapse vs cure (2 steps each, epochs of 64 training images, seed 1)" in md
    assert "Classic DCGAN" not in md and "all 10 from epoch 1 to the end" in md


@pytest.mark.slow
def test_bench_prior_rows_and_table(load_bench, tmp_path):
    """bench/prior.py on a tiny registered dcgan: N(0, I) first, then each fitted mixture, a row per seed and keep,
    mixtures scoring other samples than the normal; JSON and markdown written."""
    import json

    register_tiny("dcgan", "test-prior-dcgan", tmp_path)
    out = tmp_path / "prior"
    load_bench("prior").main(["--model", "test-prior-dcgan", "--components", "3", "--fit-samples", "300",
                              "--samples", "40", "--seeds", "0", "1", "--keep", "1", "0.5", "--data", "mnist5k",
                              "--out", str(out)])
    res = json.loads(out.with_suffix(".json").read_text())
    rows = res["rows"]
    assert [(r["prior"], r["truncation"], r["keep"], r["seed"]) for r in rows] == [
        (p, 1.0, k, s) for p in ("N(0, I)", "mixture K=3, 300 latents") for k in (1.0, 0.5) for s in (0, 1)]
    assert rows[0]["components"] == 0 and rows[4]["components"] == rows[4]["fit"]["components"] >= 2
    assert rows[4]["fit_seconds"] > 0 and rows[4]["fd"] != rows[0]["fd"] and rows[1]["fd"] != rows[0]["fd"]
    md = out.with_suffix(".md").read_text()
    assert "| mixture K=3, 300 latents | 1 | 0.5 | 1 |" in md and "| N(0, I) | 1 | 1 | 0 |" in md
    assert "bench prior --model test-prior-dcgan --components 3" in md


@pytest.mark.slow
def test_bench_refine_rows_and_table(load_bench, tmp_path):
    """bench/refine.py on a tiny registered cgan: one row per setting on the same latents, refined rows score
    other samples, and the markdown table shows each setting with its cost relative to plain sampling."""
    register_tiny("cgan", "test-refine-cgan", tmp_path)
    bench = load_bench("refine")
    rows = bench.run_model("test-refine-cgan", 40, [(0, 0.01), (3, 0.05)], "mnist5k")
    assert [(r["steps"], r["step_size"], r["samples"]) for r in rows] == [(0, 0.01, 40), (3, 0.05, 40)]
    assert rows[1]["fd"] != rows[0]["fd"] and all(0 <= r["label_accuracy"] <= 1 for r in rows)
    assert all(math.isfinite(r["fd"]) and r["fd_floor"] > 0 and r["grid16_ms"] > 0 for r in rows)
    md = bench.markdown({"threads": 1, "samples": 40, "machine": "m", "rows": rows})
    assert "| test-refine-cgan | 3 × 0.05 |" in md and "(1.0×) |" in md


@pytest.mark.slow
def test_bench_jacobian_rows_and_table(load_bench, tmp_path):
    """bench/jacobian.py on a tiny registered dcgan: one pool scored once, one row per (keep, refine) setting,
    kept rows measure other samples, and the markdown table shows each setting with its grid cost."""
    register_tiny("dcgan", "test-jacobian-dcgan", tmp_path)
    bench = load_bench("jacobian")
    rows = bench.run_model("test-jacobian-dcgan", 40, [(1.0, 0), (0.5, 0), (0.5, 2)], "mnist5k", probes=4)
    assert [(r["keep"], r["refine_steps"], r["samples"], r["pool"]) for r in rows] == \
        [(1.0, 0, 40, 80), (0.5, 0, 40, 80), (0.5, 2, 40, 80)]
    assert len({r["fd"] for r in rows}) == 3
    assert all(math.isfinite(r["fd"]) and r["fd_floor"] > 0 and r["grid16_ms"] > 0 for r in rows)
    md = bench.markdown({"threads": 1, "samples": 40, "pool": 80, "machine": "m", "rows": rows})
    assert "| test-jacobian-dcgan | 0.5 | 2 |" in md and "(1.0×) |" in md and "pool of 80 latents" in md
    evals = tmp_path / "evals"
    evals.mkdir()
    for seed, fd in ((2, 0.9), (1, 0.5)):  # an `imggen eval --keep 0.5 --seed s` result, read back as a row
        (evals / f"test-jacobian-dcgan.keep0.5.seed{seed}.json").write_text(json.dumps(
            {**{k: rows[1][k] for k in ("coverage", "confident_fraction", "real_confident_fraction", "precision",
                                        "recall", "class_histogram", "fd_floor")},
             "fd": fd, "seed": seed, "sampling": {"keep": 0.5}}))
    direct = bench.direct_rows(evals)
    assert [(d["model"], d["keep"], d["seed"]) for d in direct] == [("test-jacobian-dcgan", 0.5, 1),
                                                                      ("test-jacobian-dcgan", 0.5, 2)]
    md = bench.markdown({"threads": 1, "samples": 40, "pool": 80, "machine": "m", "rows": rows, "direct": direct})
    assert "## The sampler itself, seed by seed" in md and "| test-jacobian-dcgan | 0.5 | 0 | 2 | 0.900 (" in md



def test_bench_candidates_rows_and_table(load_bench, tmp_path):
    """bench/candidates.py on a tiny registered cgan: a row per k (plain first), means over the seeds with each
    seed kept, the asked-class share of a conditional model; JSON and markdown written."""
    register_tiny("cgan", "test-cand-cgan", tmp_path)
    out = tmp_path / "candidates"
    load_bench("candidates").main(["--models", "test-cand-cgan", "--candidates", "1", "2", "--seeds", "0", "1",
                                   "-n", "40", "--out", str(out)])
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["candidates"] for r in rows] == [1, 2] and all(len(r["per_seed"]) == 2 for r in rows)
    assert rows[0]["label_accuracy"] == pytest.approx(sum(s["label_accuracy"] for s in rows[0]["per_seed"]) / 2)
    assert rows[0]["per_seed"] != rows[1]["per_seed"]  # the best of 2 are other samples
    md = out.with_suffix(".md").read_text()
    assert "| `test-cand-cgan` | 2 | 40 |" in md and md.count("`test-cand-cgan`") == 2
