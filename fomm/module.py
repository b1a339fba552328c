"""FOMMLitModule: the original FOMM training procedure as a LightningModule."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.optim.lr_scheduler import MultiStepLR

from datamodules.plain import plain_container
from datamodules.training.grad_scaler import one_scaler_update, step_uncounted
from fomm.checkpoint import load_initial_weights
from fomm.inference import Animator
from fomm.lightning_shared import (
    PortableCheckpoints,
    ReconstructionValidation,
    check_monitor_mode,
    reconstruction_scores,
)
from fomm.losses import (
    ImagePyramid,
    PerceptualPyramidLoss,
    discriminator_gan_loss,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    feature_matching_loss,
    generator_gan_loss,
)
from fomm.losses.ms_ssim import MultiScaleSSIMLoss
from fomm.nets.build import build_networks
from fomm.train_params import check_train_params, make_adam
from fomm.transforms import RandomTPSTransform
from fomm.visualize import animation_grid

log = logging.getLogger(__name__)


def _detach_kp(kp: dict[str, Tensor]) -> dict[str, Tensor]:
    return {key: value.detach() for key, value in kp.items()}


@contextmanager
def _frozen(module: torch.nn.Module):
    """Temporarily stop gradients into ``module``'s parameters.

    Why: in the generator step the discriminator only passes gradients through; the
    original computed its weight gradients there too and threw them away.
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)


class FOMMLitModule(ReconstructionValidation, PortableCheckpoints, pl.LightningModule):
    """The First Order Motion Model, trained as in the original ``train.py``.

    Each step: keypoints of source and driving, the generator's reconstruction of the
    driving frame, the losses (perceptual pyramid, equivariance of keypoints and Jacobians,
    and for adversarial configs LSGAN + feature matching), one update of the generator and
    keypoint detector on their sum; then, only when ``generator_gan > 0``, one
    discriminator update. Adam (betas 0.5, 0.999) per network; MultiStepLR (gamma 0.1) at
    ``epoch_milestones``, stepped at every epoch end; ``lr_kp_detector: 0`` freezes the
    detector's weights (its batch norm keeps batch statistics, as in the original).
    ``trainer.global_step`` counts batches (one per generator update).

    Args:
        model_params: the official ``model_params`` section (see conf/model/fomm.yaml).
        train_params: the official ``train_params`` entries the step uses: ``scales``,
            ``loss_weights``, ``transform_params``, ``lr_*``, ``epoch_milestones``
            (epochs, repeats and batch size live in the trainer and data configs).
        perceptual_network: the perceptual loss's ``network`` (``vgg19``, or ``pixels`` for
            an L1 image pyramid), ``pretrained`` (ImageNet VGG19) and ``weights_path`` (a
            local copy of torchvision's VGG19 weights).
        ms_ssim: settings of the optional MS-SSIM term (``num_scales``, ``kernel_size``,
            ``sigma``; :class:`~fomm.losses.ms_ssim.MultiScaleSSIMLoss`), whose weight is
            ``loss_weights.ms_ssim`` (absent or 0: off, as in the paper).
        monitor: the validation metric the best checkpoint is chosen by.
        monitor_mode: ``min`` or ``max``.
        init_from: an official ``.pth.tar`` or our ``.ckpt`` to initialise the weights from
            (fine-tuning; adversarial configs may start from non-adversarial checkpoints).
        trust_checkpoint: allow ``init_from`` files that need full unpickling.
        log_images_every_n_steps: image grid to the loggers every N batches (0: never).
        val_batch_frames: frames per forward pass when reconstructing validation videos.
        val_max_frames: reconstruct at most this many frames per validation video.
        channels_last: run the networks channels-last (faster for bf16 on CPUs and GPUs).
    """

    def __init__(
        self,
        model_params: dict[str, Any],
        train_params: dict[str, Any],
        perceptual_network: dict[str, Any] | None = None,
        ms_ssim: dict[str, Any] | None = None,
        monitor: str = "val/l1",
        monitor_mode: str = "min",
        init_from: str | None = None,
        trust_checkpoint: bool = False,
        log_images_every_n_steps: int = 500,
        val_batch_frames: int = 16,
        val_max_frames: int | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        model_params = plain_container(model_params)
        train_params = plain_container(train_params)
        perceptual_network = plain_container(perceptual_network or {})
        self.save_hyperparameters()
        self.automatic_optimization = False
        check_train_params(train_params)
        check_monitor_mode(monitor_mode)

        self.networks = build_networks(model_params)
        self.networks.config["train_params"] = train_params
        weights = train_params["loss_weights"]
        self.loss_weights = weights
        num_channels = model_params["common_params"]["num_channels"]
        self.disc_scales = list(model_params["discriminator_params"].get("scales", [1]))
        self.pyramid = ImagePyramid(
            sorted({float(s) for s in [*train_params["scales"], *self.disc_scales]}, reverse=True),
            num_channels,
        )
        self.perceptual = PerceptualPyramidLoss.from_config(train_params, perceptual_network)
        self.ms_ssim = MultiScaleSSIMLoss(
            float(weights.get("ms_ssim", 0)), **plain_container(ms_ssim or {})
        )
        self.transform_params = train_params["transform_params"]
        self.kp_frozen = float(train_params["lr_kp_detector"]) == 0
        if self.kp_frozen:
            self.networks.kp_detector.requires_grad_(False)
        self.use_gan = float(weights["generator_gan"]) != 0
        if init_from:
            report = load_initial_weights(self.networks, init_from, trust_pickle=trust_checkpoint)
            log.info("Initialised from %s: %s", init_from, report.summary())
        # Video-level errors of validation and test (a ModuleDict moves them with the model).
        self.scores = reconstruction_scores()
        if channels_last:
            self.to(memory_format=torch.channels_last)

    # ------------------------------------------------------------------ training
    def _images(self, images: Tensor) -> Tensor:
        if self.hparams.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def generator_losses(
        self, source: Tensor, driving: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The generator-side losses of one batch (weighted) and what was generated."""
        kp_detector, generator = self.networks.kp_detector, self.networks.generator
        weights = self.loss_weights
        kp_source = kp_detector(source)
        kp_driving = kp_detector(driving)
        generated = generator(source, kp_driving=kp_driving, kp_source=kp_source)
        generated.update(kp_source=kp_source, kp_driving=kp_driving)
        pyramid_real = self.pyramid(driving)
        pyramid_generated = self.pyramid(generated["prediction"])
        generated.update(pyramid_real=pyramid_real, pyramid_generated=pyramid_generated)

        losses: dict[str, Tensor] = {}
        if self.perceptual.enabled:
            losses["perceptual"] = self.perceptual(pyramid_generated, pyramid_real)
        if self.ms_ssim.enabled:
            losses["ms_ssim"] = self.ms_ssim(generated["prediction"], driving)
        if self.use_gan:
            kp = _detach_kp(kp_driving)
            with _frozen(self.networks.discriminator):
                maps_generated = self.networks.discriminator(pyramid_generated, kp=kp)
                with torch.no_grad():
                    maps_real = self.networks.discriminator(pyramid_real, kp=kp)
            losses["generator_gan"] = generator_gan_loss(
                maps_generated, self.disc_scales, float(weights["generator_gan"])
            )
            if sum(weights["feature_matching"]) != 0:
                losses["feature_matching"] = feature_matching_loss(
                    maps_real, maps_generated, self.disc_scales, weights["feature_matching"]
                )
        weight_value = float(weights["equivariance_value"])
        weight_jacobian = float(weights["equivariance_jacobian"])
        if weight_value + weight_jacobian != 0:
            transform = RandomTPSTransform(
                driving.shape[0], device=driving.device, **self.transform_params
            )
            transformed_frame = self._images(transform.transform_frame(driving))
            kp_transformed = kp_detector(transformed_frame)
            generated.update(transformed_frame=transformed_frame, kp_transformed=kp_transformed)
            if weight_value != 0:
                losses["equivariance_value"] = weight_value * equivariance_value_loss(
                    kp_driving, kp_transformed, transform
                )
            if weight_jacobian != 0:
                losses["equivariance_jacobian"] = weight_jacobian * equivariance_jacobian_loss(
                    kp_driving, kp_transformed, transform
                )
        return losses, generated

    def discriminator_losses(self, generated: dict[str, Any]) -> dict[str, Tensor]:
        """The LSGAN discriminator loss on the real and the (detached) generated pyramids."""
        kp = _detach_kp(generated["kp_driving"])
        pyramid_generated = {k: v.detach() for k, v in generated["pyramid_generated"].items()}
        maps_generated = self.networks.discriminator(pyramid_generated, kp=kp)
        maps_real = self.networks.discriminator(generated["pyramid_real"], kp=kp)
        weight = float(self.loss_weights["discriminator_gan"])
        return {
            "discriminator_gan": discriminator_gan_loss(
                maps_real, maps_generated, self.disc_scales, weight
            )
        }

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:  # noqa: D102
        source, driving = self._images(batch["source"]), self._images(batch["driving"])
        opt_generator, opt_kp_detector, opt_discriminator = self.optimizers()

        losses, generated = self.generator_losses(source, driving)
        total = torch.stack([value.float() for value in losses.values()]).sum()
        opt_generator.zero_grad()
        opt_kp_detector.zero_grad()
        self.manual_backward(total)
        # Under 16-mixed every optimizer steps through the gradient scaler at the scale
        # its loss was scaled by; the scale is updated once, after the last step.
        with one_scaler_update(self._trainer):
            opt_generator.step()
            if not self.kp_frozen:
                step_uncounted(self.trainer, opt_kp_detector)

            if self.use_gan:
                disc_losses = self.discriminator_losses(generated)
                opt_discriminator.zero_grad()
                self.manual_backward(disc_losses["discriminator_gan"])
                step_uncounted(self.trainer, opt_discriminator)
                losses.update(disc_losses)

        batch_size = source.shape[0]
        metrics = {f"train/loss_{name}": value.detach() for name, value in losses.items()}
        self.log_dict(metrics, on_step=True, on_epoch=True, batch_size=batch_size)
        self.log(
            "train/loss_generator",
            total.detach(),
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch_size,
        )
        every = self.hparams.log_images_every_n_steps
        if every and (self.global_step - 1) % every == 0:
            grid = animation_grid(
                source, driving, generated, generated["kp_source"], generated["kp_driving"]
            )
            self.log_image("train/animation", grid)

    def on_train_epoch_end(self) -> None:
        """MultiStepLR is stepped per epoch, as in the original."""
        schedulers = self.lr_schedulers()
        with warnings.catch_warnings():
            # The discriminator's optimizer never steps in non-adversarial configs; its
            # schedule still advances, as in the original.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                scheduler.step()

    def configure_optimizers(self):  # noqa: D102
        params = self.hparams.train_params
        nets = self.networks
        optimizers = [
            make_adam(nets.generator, params["lr_generator"], params),
            make_adam(nets.kp_detector, params["lr_kp_detector"], params),
            make_adam(nets.discriminator, params["lr_discriminator"], params),
        ]
        milestones = list(params["epoch_milestones"])
        schedulers = [
            {"scheduler": MultiStepLR(opt, milestones, gamma=0.1), "interval": "epoch"}
            for opt in optimizers
        ]
        return optimizers, schedulers

    # ---------------------------------------------------------------- evaluation
    def reconstruction_animator(self, source: Tensor) -> Animator:
        """The paper's reconstruction: absolute keypoints of each frame animate ``source``."""
        return Animator(
            source,
            self.networks.kp_detector,
            self.networks.generator,
            relative=False,
            channels_last=self.hparams.channels_last,
        )
