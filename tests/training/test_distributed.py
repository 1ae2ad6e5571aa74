"""Distributed training (DDP) with 2 gloo processes: replicas stay equal, one rank stopping stops every rank."""
import contextlib

import pytest
import torch

from imggen.train import TrainConfig, TrainState, train
from imggen.training.trainers import make_trainer
from tiny_gan import TINY, one_thread  # noqa: F401  (one_thread: an autouse fixture)


@contextlib.contextmanager
def _gloo(rank: int, world: int, init_file: str):
    """One rank's gloo process group, torn down only after every rank got through (a rank tearing gloo down
    while its peer still talked to it aborted with SIGABRT once in CI)."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _save_params(module: torch.nn.Module, out_dir: str, rank: int) -> None:
    torch.save({k: v.detach() for k, v in module.named_parameters()}, f"{out_dir}/rank{rank}.pt")


def _spawn_two(worker, tmp_path) -> tuple[dict, dict]:
    """Run ``worker`` on 2 gloo ranks; the parameters each rank saved."""
    import torch.multiprocessing as mp

    mp.spawn(worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    return tuple(torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    from imggen.models.gan import DCGAN, DCGANConfig

    with _gloo(rank, world, init_file):
        torch.manual_seed(rank)  # different init per rank: DDP must broadcast rank 0's weights
        net = DCGAN(DCGANConfig(**TINY))
        tr = make_trainer(net, TrainConfig(lr=1e-2, use_ema=False, r1_gamma=1.0), torch.device("cpu"))
        torch.manual_seed(100 + rank)  # different data and noise per rank
        x = torch.rand(4, 1, 28, 28) * 2 - 1
        before = net.G.fc.weight.detach().clone()
        tr.step(x, torch.zeros(4, dtype=torch.long))
        assert not torch.equal(before, net.G.fc.weight)
        _save_params(net, out_dir, rank)


@pytest.mark.slow
def test_ddp_two_gloo_processes_keep_replicas_equal(tmp_path):
    p0, p1 = _spawn_two(_ddp_worker, tmp_path)
    assert p0.keys() == p1.keys() and len(p0) > 5
    for k in p0:
        assert torch.allclose(p0[k], p1[k], atol=1e-6), k


def _ddp_stop_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    from imggen.data import ImageData

    with _gloo(rank, world, init_file):
        torch.manual_seed(0)
        data = ImageData(torch.rand(64, 1, 28, 28) * 2 - 1, torch.full((64,), -1), "toy")
        calls = []

        def stop():  # only rank 1 asks to stop, after its third step
            calls.append(1)
            return rank == 1 and len(calls) >= 3

        cfg = TrainConfig(epochs=1, batch_size=4, max_steps=12, eval_samples=0, num_grid=4, use_ema=False)
        state = TrainState()
        events = list(train("dcgan", data, cfg, model_config=TINY, should_stop=stop, state=state))
        assert events[-1].kind == "end" and events[-1].step == 3, (rank, events[-1])
        _save_params(state.model, out_dir, rank)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ddp_one_rank_stopping_stops_every_rank(tmp_path):
    """Stops (user, time limit, NaN) are agreed over ranks: one rank leaving alone would hang the others."""
    p0, p1 = _spawn_two(_ddp_stop_worker, tmp_path)
    assert all(torch.allclose(p0[k], p1[k], atol=1e-6) for k in p0)

