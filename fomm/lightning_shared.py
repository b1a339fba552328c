"""What FOMM's and TPSMM's LightningModules share: reconstruction validation and checkpoints.

Why a mixin: both models are validated and tested by the paper's reconstruction protocol
(the first frame animates every frame of a held-out video, absolute motion, mean L1),
log the same image grids, and save checkpoints without the fixed perceptual VGG that
``torch.load(weights_only=True)`` reads back. Each module says only how it builds an
animator for one source frame (:meth:`ReconstructionValidation.reconstruction_animator`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from datamodules.plain import plain_container
from datamodules.training.image_logging import log_image
from fomm.reconstruction_scores import ReconstructionScores
from fomm.visualize import animation_grid

# Keys of the perceptual VGG, left out of our checkpoints (fixed, and rebuilt from config).
VGG_PREFIX = "perceptual.vgg."


def check_monitor_mode(monitor_mode: str) -> None:
    """Refuse a checkpoint-selection direction other than ``min`` or ``max``."""
    if monitor_mode not in ("min", "max"):
        raise ValueError(f"monitor_mode must be 'min' or 'max', got {monitor_mode!r}")


def reconstruction_scores() -> torch.nn.ModuleDict:
    """Video-level errors of validation and test, for a module's ``scores`` attribute.

    Why a ModuleDict of metrics: it moves with the model, and under DDP each video is
    counted once (the distributed sampler's padding repeats videos; see
    :class:`~fomm.reconstruction_scores.ReconstructionScores`).
    """
    return torch.nn.ModuleDict(
        {
            "val": ReconstructionScores(["l1"]),
            "test": ReconstructionScores(["l1", "l1_no_motion", "l1_frozen_keypoints"]),
        }
    )


class ReconstructionValidation(ABC):
    """Validation and test steps of the animation models, for a ``pl.LightningModule``.

    The module must have ``hparams.val_batch_frames``, ``hparams.val_max_frames`` and
    ``hparams.log_images_every_n_steps``, ``scores`` from :func:`reconstruction_scores`,
    and implement :meth:`reconstruction_animator`.
    """

    @abstractmethod
    def reconstruction_animator(self, source: Tensor) -> Any:
        """An animator of ``source`` (3, H, W) driven by absolute motion.

        It is called on (B, 3, H, W) frames with ``visualize=`` and returns
        ``prediction``, ``kp_driving`` (and with ``visualize`` the grid's ``deformed`` and
        ``occlusion_map``); its ``kp_source`` holds the source's points.
        """

    def _reconstruction_l1(
        self, batch: dict[str, Any], stage: str, batch_idx: int
    ) -> Tensor | None:
        """Reconstruct every frame of a video from its first frame, as the paper evaluates.

        At test time two baselines come with it, so the L1 can be read: ``l1_no_motion``
        copies the first frame to every frame (what a model that never moves scores) and
        ``l1_frozen_keypoints`` is this model driven by the source itself (its generator's
        fidelity without motion). ``l1`` below ``l1_frozen_keypoints`` means the keypoints
        carry motion the generator uses.
        """
        if "video" not in batch:  # every item of the batch was unreadable (counted as skipped)
            return None
        video = batch["video"]
        if video.dim() != 5 or video.shape[0] != 1:
            raise ValueError(
                f"{stage} batches must hold one video (1, T, 3, H, W), got {tuple(video.shape)}"
            )
        frames = video[0]
        if self.hparams.val_max_frames:
            frames = frames[: self.hparams.val_max_frames]
        animator = self.reconstruction_animator(frames[0])
        step = max(1, int(self.hparams.val_batch_frames))
        errors, first = [], None
        # Without motion every frame gets the same image, so each baseline is one image.
        baselines = {}
        if stage == "test":
            baselines = {
                "no_motion": frames[:1],
                "frozen_keypoints": animator(frames[:1])["prediction"],
            }
        baseline_errors: dict[str, list[Tensor]] = {name: [] for name in baselines}
        for start in range(0, frames.shape[0], step):
            chunk = frames[start : start + step]
            out = animator(chunk, visualize=first is None)
            errors.append((out["prediction"] - chunk).abs().mean(dim=(1, 2, 3)))
            if first is None:
                first = (chunk, out)
            for name, still in baselines.items():
                baseline_errors[name].append((still - chunk).abs().mean(dim=(1, 2, 3)))
        l1 = torch.cat(errors).mean()
        means = {"l1": l1}
        means.update({f"l1_{name}": torch.cat(v).mean() for name, v in baseline_errors.items()})
        self.scores[stage].update(batch["name"][0], frames.shape[0], means)
        if batch_idx == 0 and self.hparams.log_images_every_n_steps:
            chunk, out = first
            grid = animation_grid(
                frames[:1], chunk, out, animator.kp_source, out["kp_driving"], max_items=4
            )
            self.log_image(f"{stage}/reconstruction", grid)
        return l1

    def _log_scores(self, stage: str) -> None:
        """Log the epoch's errors, each video counted once over all processes."""
        scores = self.scores[stage]
        values = scores.compute()
        scores.reset()
        # Already gathered across processes: sync_dist only averages equal values.
        self.log_dict({f"{stage}/{name}": value for name, value in values.items()}, sync_dist=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:  # noqa: D102
        return self._reconstruction_l1(batch, "val", batch_idx)

    def on_validation_epoch_end(self) -> None:  # noqa: D102
        self._log_scores("val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:  # noqa: D102
        return self._reconstruction_l1(batch, "test", batch_idx)

    def on_test_epoch_end(self) -> None:  # noqa: D102
        self._log_scores("test")

    def log_image(self, tag: str, image: Tensor) -> None:
        """Send a (3, H, W) image in [0, 1] to every logger; PNG files for those without images.

        wandb and TensorBoard get it directly; for the others (CSV) it is written to
        ``<run dir>/images/<tag>_step<N>.png``
        (:func:`~datamodules.training.image_logging.log_image`).
        """
        log_image(self.trainer if self._trainer is not None else None, tag, image, self.global_step)


class PortableCheckpoints:
    """Checkpoint hooks for a ``pl.LightningModule`` with a ``perceptual`` VGG loss.

    Saving leaves the fixed VGG out and stores hyper-parameters as plain containers, so
    ``torch.load(weights_only=True)`` (which ``trainer.test(ckpt_path=...)`` and the
    loaders use) reads the file; loading puts this module's own VGG back so strict loading
    sees every key. :meth:`checkpoint_meta` adds what a module wants recorded.
    """

    def checkpoint_meta(self) -> dict[str, Any]:
        """Record what an official export and the loaders need (``fomm_meta``).

        The epochs and the data settings (``frame_shape`` tells the animation commands
        the model's frame size) of the run.
        """
        meta: dict[str, Any] = {}
        trainer = self._trainer
        if trainer is None:
            return {"fomm_meta": meta}
        meta["num_epochs"] = trainer.max_epochs
        datamodule = getattr(trainer, "datamodule", None)
        hparams = plain_container(dict(getattr(datamodule, "hparams", {}) or {}))
        for key in ("root_dir", "frame_shape", "id_sampling", "num_repeats", "batch_size"):
            if key in hparams and isinstance(hparams[key], (int, float, str, bool, list)):
                meta[key] = hparams[key]
        return {"fomm_meta": meta}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:  # noqa: D102
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(VGG_PREFIX)]:
            del state[key]
        checkpoint.update(self.checkpoint_meta())
        for key in ("hyper_parameters", "datamodule_hyper_parameters"):
            if isinstance(checkpoint.get(key), dict):
                checkpoint[key] = plain_container(checkpoint[key])

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:  # noqa: D102
        state = checkpoint["state_dict"]
        for key, value in self.state_dict().items():
            if key.startswith(VGG_PREFIX):
                state.setdefault(key, value)
