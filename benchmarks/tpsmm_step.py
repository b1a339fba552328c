"""TPSMM beside FOMM in one run: a training step and animation frames/s, fp32.

The training steps are the LightningModules' own: TPSMMLitModule's losses (perceptual
pyramid over VGG19 with random weights, the same cost as ImageNet ones; control-point
equivariance; warp loss; background loss), its per-network gradient clipping and both
Adam steps; FOMMLitModule's as ``benchmarks/fomm_step.py`` times it. Animation is each
model's batched animator in ``relative`` mode (:func:`fomm.animators.make_animator`).

Examples:
    python benchmarks/tpsmm_step.py                     # vox-256 of both, 256 px, batch 2
    python benchmarks/tpsmm_step.py --quick             # the tiny configs at 64 px, one rep
    python benchmarks/tpsmm_step.py --device cuda --batch 16

Timings are the best of ``--reps`` repetitions after ``--warmup`` ones.
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from datamodules.training.precision import hardware_banner  # noqa: E402
from fomm.animators import make_animator  # noqa: E402
from fomm.module import FOMMLitModule  # noqa: E402
from fomm.tpsmm.module import TPSMMLitModule  # noqa: E402
from fomm.tpsmm.train_params import WEIGHT_DECAY, clip_infinity_norm, make_adam  # noqa: E402

from bench_timing import best_time  # noqa: E402
from fomm_step import model_kwargs, training_step_fn  # noqa: E402

# (FOMM model config, TPSMM model config) at full size and in --quick.
MODELS = {False: ("fomm", "tpsmm"), True: ("fomm_tiny", "tpsmm_tiny")}


def tpsmm_step_fn(module: TPSMMLitModule, batch: dict) -> Callable[[], None]:
    """One TPSMMLitModule training step without a Trainer (background from the first epoch)."""
    nets = module.networks
    lr = float(module.hparams.train_params["lr_generator"])
    main = [nets.kp_detector, nets.dense_motion_network, nets.inpainting_network]
    optimizer = make_adam((p for n in main for p in n.parameters()), lr, WEIGHT_DECAY)
    optimizer_bg = (
        make_adam(nets.bg_predictor.parameters(), lr, WEIGHT_DECAY) if nets.bg_predictor else None
    )

    def step() -> None:
        losses, _ = module.losses(batch["source"], batch["driving"])
        total = torch.stack([v.float() for v in losses.values()]).sum()
        optimizer.zero_grad()
        if optimizer_bg is not None:
            optimizer_bg.zero_grad()
        total.backward()
        for network in (nets.kp_detector, nets.dense_motion_network, nets.bg_predictor):
            if network is not None:
                clip_infinity_norm(network.parameters())
        optimizer.step()
        if optimizer_bg is not None:
            optimizer_bg.step()

    return step


def animate_fn(networks, source, driving, batch_size: int) -> Callable[[], None]:
    """Animate every driving frame in relative mode, ``batch_size`` frames per pass."""

    def run() -> None:
        animator = make_animator(networks, source, mode="relative")
        animator.set_initial(driving[:1])
        for start in range(0, driving.shape[0], batch_size):
            animator(driving[start : start + batch_size])

    return run


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny configs at 64 px, 1 rep, 4 frames"
    )
    parser.add_argument("--size", type=int, default=None, help="default 256 (64 with --quick)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--reps", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--frames", type=int, default=None, help="default 16 (4 with --quick)")
    parser.add_argument("--anim-batch", type=int, default=8, help="frames per animation batch")
    args = parser.parse_args()
    size = args.size or (64 if args.quick else 256)
    reps = args.reps or (1 if args.quick else 3)
    frames = args.frames or (4 if args.quick else 16)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(hardware_banner(device))
    fomm_name, tpsmm_name = MODELS[args.quick]
    print(
        f"models={fomm_name},{tpsmm_name} fp32 size={size} batch={args.batch} device={device} "
        f"threads={torch.get_num_threads()} (best of {reps} after {args.warmup} warm-up)"
    )
    fomm_module = FOMMLitModule(**model_kwargs(fomm_name, None, None)).to(device).train()
    tpsmm_module = TPSMMLitModule(**model_kwargs(tpsmm_name, None, None)).to(device).train()
    images = torch.rand(2, args.batch, 3, size, size, device=device)
    batch = {"source": images[0], "driving": images[1]}
    steps = {
        "fomm": training_step_fn(fomm_module, batch, autocast=False),
        "tpsmm": tpsmm_step_fn(tpsmm_module, batch),
    }
    for name, step in steps.items():
        seconds = best_time(step, reps, args.warmup, device)
        print(f"train step  {name:6s} {seconds:8.3f} s/step  ({args.batch / seconds:6.2f} pairs/s)")

    source = torch.rand(1, 3, size, size, device=device)
    driving = torch.rand(frames, 3, size, size, device=device)
    for name, module in (("fomm", fomm_module), ("tpsmm", tpsmm_module)):
        networks = copy.deepcopy(module.networks).eval()
        run = animate_fn(networks, source, driving, args.anim_batch)
        seconds = best_time(run, reps, args.warmup, device)
        print(f"animate     {name:6s} {frames / seconds:8.2f} frames/s  (batch {args.anim_batch})")


if __name__ == "__main__":
    main()
