"""Time one FOMM training step and animation throughput, in fp32 and bf16.

The training step is exactly FOMMLitModule's: keypoints of source and driving, the
generator, the perceptual pyramid (VGG19, random weights: same cost as ImageNet ones),
equivariance, and with ``--gan`` the generator GAN + feature-matching terms and the
discriminator update; both Adam steps included. Animation is the batched
:func:`fomm.inference.animate` against the original's frame-by-frame procedure.

Examples:
    python benchmarks/fomm_step.py                              # vox-256, 256 px, batch 2, CPU
    python benchmarks/fomm_step.py --gan                        # with the adversarial terms
    python benchmarks/fomm_step.py --device cuda --batch 16     # on a GPU
    python benchmarks/fomm_step.py --model fomm_tiny --size 64 --batch 8

Timings are the best of ``--reps`` repetitions after ``--warmup`` ones (shared machines are
noisy; the best is the least disturbed run).
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from datamodules.training.precision import hardware_banner  # noqa: E402
from fomm.inference import animate, normalize_kp  # noqa: E402
from fomm.module import FOMMLitModule  # noqa: E402
from fomm.train_params import make_adam  # noqa: E402

from bench_timing import autocast as autocast_context  # noqa: E402
from bench_timing import best_time  # noqa: E402

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def model_kwargs(model: str, recipe: str | None, gan: bool | None) -> dict:
    """FOMMLitModule arguments of conf/model/<model>.yaml (+ its parents and a recipe)."""

    def load(name: str):
        config = OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml")
        parents = [d for d in config.pop("defaults", []) if isinstance(d, str) and d != "_self_"]
        return OmegaConf.merge(*[load(p) for p in parents], config)

    config = load(model)
    if recipe:
        config = OmegaConf.merge(
            config, OmegaConf.load(CONF_DIR / "recipe" / f"{recipe}.yaml").model
        )
    kwargs = OmegaConf.to_container(config)
    for key in ("_target_", "_convert_"):
        kwargs.pop(key, None)
    kwargs["perceptual_network"]["pretrained"] = False  # same cost, no download
    kwargs["log_images_every_n_steps"] = 0
    if gan is not None:
        kwargs["train_params"]["loss_weights"]["generator_gan"] = int(gan)
    return kwargs


def training_step_fn(module: FOMMLitModule, batch: dict, autocast: bool) -> Callable[[], None]:
    """One FOMMLitModule training step without a Trainer (same order, same optimizers)."""
    params = module.hparams.train_params
    nets = module.networks
    opt_g = make_adam(nets.generator, params["lr_generator"], params)
    opt_kp = make_adam(nets.kp_detector, params["lr_kp_detector"], params)
    opt_d = make_adam(nets.discriminator, params["lr_discriminator"], params)
    device_type = batch["source"].device.type
    dtype = torch.bfloat16 if autocast else None

    def step() -> None:
        with autocast_context(device_type, dtype):
            losses, generated = module.generator_losses(batch["source"], batch["driving"])
            total = torch.stack([v.float() for v in losses.values()]).sum()
        opt_g.zero_grad()
        opt_kp.zero_grad()
        total.backward()
        opt_g.step()
        opt_kp.step()
        if module.use_gan:
            with autocast_context(device_type, dtype):
                loss_d = module.discriminator_losses(generated)["discriminator_gan"]
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

    return step


def frame_by_frame(source, driving, kp_detector, generator) -> None:
    """The original demo's loop: one frame at a time, the source re-encoded every frame."""
    with torch.no_grad():
        kp_source = kp_detector(source)
        kp_initial = kp_detector(driving[:1])
        for index in range(driving.shape[0]):
            kp_driving = kp_detector(driving[index : index + 1])
            kp_norm = normalize_kp(kp_source, kp_driving, kp_initial, True, True, True)
            generator(source, kp_source=kp_source, kp_driving=kp_norm)


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fomm", help="conf/model/<name>.yaml")
    parser.add_argument("--recipe", default=None, help="conf/recipe/<name>.yaml, e.g. fomm_taichi")
    parser.add_argument(
        "--gan",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force the adversarial terms on/off (default: as configured)",
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--frames", type=int, default=16, help="driving frames to animate")
    parser.add_argument("--anim-batch", type=int, default=8, help="frames per animation batch")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-animate", action="store_true")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="skip the frame-by-frame animation baseline"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(hardware_banner(device))
    kwargs = model_kwargs(args.model, args.recipe, args.gan)
    gan = kwargs["train_params"]["loss_weights"]["generator_gan"] != 0
    print(
        f"model={args.model} recipe={args.recipe} gan={gan} size={args.size} batch={args.batch} "
        f"device={device} threads={torch.get_num_threads()} "
        f"(best of {args.reps} after {args.warmup} warm-up)"
    )
    base = FOMMLitModule(**kwargs)
    modes = [("fp32", False, False), ("bf16-mixed + channels_last", True, True)]

    if not args.skip_train:
        images = torch.rand(2, args.batch, 3, args.size, args.size, device=device)
        for name, autocast, channels_last in modes:
            module = copy.deepcopy(base).to(device).train()
            batch = {"source": images[0], "driving": images[1]}
            if channels_last:
                module = module.to(memory_format=torch.channels_last)
                batch = {
                    k: v.contiguous(memory_format=torch.channels_last) for k, v in batch.items()
                }
            seconds = best_time(
                training_step_fn(module, batch, autocast), args.reps, args.warmup, device
            )
            rate = args.batch / seconds
            print(f"train step  {name:28s} {seconds:7.3f} s/step  ({rate:6.2f} pairs/s)")

    if not args.skip_animate:
        nets = copy.deepcopy(base.networks).to(device).eval()
        source = torch.rand(1, 3, args.size, args.size, device=device)
        driving = torch.rand(args.frames, 3, args.size, args.size, device=device)
        if not args.skip_baseline:
            seconds = best_time(
                lambda: frame_by_frame(source, driving, nets.kp_detector, nets.generator),
                args.reps,
                args.warmup,
                device,
            )
            print(f"animate     {'fp32 frame by frame':28s} {args.frames / seconds:7.2f} frames/s")
        for name, autocast, channels_last in modes:
            run_nets = copy.deepcopy(nets)

            def run(run_nets=run_nets, autocast=autocast, channels_last=channels_last) -> None:
                animate(
                    source,
                    driving,
                    run_nets.kp_detector,
                    run_nets.generator,
                    batch_size=args.anim_batch,
                    autocast_dtype=torch.bfloat16 if autocast else None,
                    channels_last=channels_last,
                )

            seconds = best_time(run, args.reps, args.warmup, device)
            label = f"{name} batch {args.anim_batch}"
            print(f"animate     {label:28s} {args.frames / seconds:7.2f} frames/s")


if __name__ == "__main__":
    main()
