"""bench/load.py --quick: the real app in a subprocess under a few gradio_client visitors, three short trainings
(~1.5 min on 2 CPU cores, hence slow). Phase 1 must really hold: no errors and the same pixels for every visitor."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_load_bench(tmp_path):
    out = tmp_path / "load"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--quick", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=840,
                       env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    res = json.loads(out.with_suffix(".json").read_text())
    assert {"machine", "settings", "phase1_identical", "phase2_latency", "phase3_training", "total_s"} <= res.keys()
    assert {"cpu_count", "load_avg_at_start", "torch_threads", "commit"} <= res["machine"].keys()

    p1 = res["phase1_identical"]
    assert p1["errors"] == 0, p1
    eps = p1["endpoints"]
    assert "/sample" in eps and "/complete" in eps and {"/explore_update", "/explore_load"} & eps.keys(), eps.keys()
    for ep, e in eps.items():
        assert e["calls"] == p1["visitors"] >= 2 and e["images_compared"] >= 1, (ep, e)
        assert e["identical"] == e["calls"], (ep, e)  # every visitor got the same pixels
    assert p1["all_identical"] is True

    p2 = res["phase2_latency"]
    assert p2["idle"]["latency_s"]["n"] == res["settings"]["idle_reps"]
    assert p2["idle"]["latency_s"]["p50"] > 0 and p2["loaded"]["light_probe"]["latency_s"]["n"] >= 1
    assert {"p50", "p90", "p95"} <= p2["loaded_vs_idle"].keys() and isinstance(p2["met"], bool)

    p3 = res["phase3_training"]
    assert p3["solo"]["error"] is None and p3["solo"]["wall_s"] > 0, p3["solo"]
    for k in ("light", "heavy"):
        assert p3[k]["error"] is None and f"{k}_vs_solo" in p3, p3[k]
    assert "| phase | metric | value | target | met? |" in out.with_suffix(".md").read_text()
