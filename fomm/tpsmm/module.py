"""TPSMM's two training stages as LightningModules: the model, then its AVD network.

:class:`TPSMMLitModule` is the official ``train.py``; :class:`TPSMMAVDLitModule` is
``train_avd.py`` (the AVD network trained on a frozen model). Both are validated and
tested like FOMM (:mod:`fomm.lightning_shared`): each held-out video reconstructed from
its first frame, ``val/l1`` and ``test/l1``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.optim.lr_scheduler import MultiStepLR

from datamodules.plain import plain_container
from datamodules.training.checkpoints import safe_load
from datamodules.training.grad_scaler import one_scaler_update, step_uncounted
from fomm.checkpoint import load_matching_weights
from fomm.lightning_shared import (
    PortableCheckpoints,
    ReconstructionValidation,
    check_monitor_mode,
    reconstruction_scores,
)
from fomm.losses import ImagePyramid, PerceptualPyramidLoss
from fomm.tpsmm.checkpoint import REQUIRED_NETWORKS, tpsmm_network_states
from fomm.tpsmm.inference import TPSMMAnimator
from fomm.tpsmm.losses import (
    avd_reconstruction_loss,
    background_cycle_loss,
    control_point_equivariance_loss,
    random_scale,
    warp_loss,
)
from fomm.tpsmm.nets.build import NETWORK_NAMES, TPSMMNetworks, build_tpsmm_networks
from fomm.tpsmm.schedule import tps_dropout
from fomm.tpsmm.train_params import (
    WEIGHT_DECAY,
    check_avd_params,
    check_train_params,
    clip_infinity_norm,
    make_adam,
)
from fomm.tpsmm.transforms import RandomTPSWarp
from fomm.visualize import animation_grid

log = logging.getLogger(__name__)


def load_tpsmm_weights(
    networks: TPSMMNetworks, path: str, partial: tuple[str, ...], trust_pickle: bool = False
) -> str:
    """Copy the weights of an official ``.pth.tar`` or one of our ``.ckpt`` into ``networks``.

    The keypoint detector, dense motion and inpainting networks must match the config;
    the networks in ``partial`` take what the file has (a checkpoint saved before
    ``bg_start`` has no background predictor, one before the AVD stage no AVD network).

    Returns:
        One line saying what was loaded.
    """
    states = tpsmm_network_states(safe_load(path, trust_pickle=trust_pickle), path)
    names = tuple(n for n in NETWORK_NAMES if getattr(networks, n) is not None)
    report = load_matching_weights(networks, states, partial=partial, source=path, names=names)
    return report.summary()


def _as_list(items: Any) -> list[Any]:
    """Lightning returns one optimizer (or scheduler) bare and several as a list."""
    return items if isinstance(items, list) else [items]


def _occlusion_grid_view(generated: dict[str, Any]) -> dict[str, Tensor]:
    """What :func:`~fomm.visualize.animation_grid` draws, with the finest occlusion mask."""
    return {
        "prediction": generated["prediction"],
        "deformed": generated["deformed"],
        "occlusion_map": generated["occlusion_map"][-1],
    }


class TPSMMLitModule(ReconstructionValidation, PortableCheckpoints, pl.LightningModule):
    """The Thin-Plate-Spline Motion Model, trained as in the original ``train.py``.

    Each step: control points of source and driving, from ``bg_start`` on the background
    affine, dense motion with TPS dropout on the schedule of ``train_params``
    (:func:`~fomm.tpsmm.schedule.tps_dropout`), the inpainting network's reconstruction
    of the driving frame, and the losses: perceptual pyramid (FOMM's), equivariance of the
    control points under a random TPS warp, the warp loss on the encoder maps, and the
    background cycle loss. One update of the keypoint detector, dense motion and
    inpainting networks on their sum (one Adam, weight decay 1e-4, as the original), and
    from ``bg_start`` one of the background predictor (its own Adam); before each, the
    keypoint detector's, the dense motion network's and the background predictor's
    gradients are clipped to infinity norm 10. MultiStepLR (gamma 0.1) at
    ``epoch_milestones``, stepped per epoch. ``trainer.global_step`` counts batches.

    Args:
        model_params: the official ``model_params`` (see conf/recipe/tpsmm_vox.yaml).
        train_params: the official ``train_params`` entries the step reads (see
            :data:`~fomm.tpsmm.train_params.TRAIN_PARAMS_KEYS`; epochs, repeats and batch
            size live in the trainer and data configs).
        perceptual_network: as :class:`fomm.module.FOMMLitModule`'s (VGG19, or ``pixels``).
        monitor: the validation metric the best checkpoint is chosen by.
        monitor_mode: ``min`` or ``max``.
        init_from: an official ``.pth.tar`` or one of our ``.ckpt`` to start from.
        trust_checkpoint: allow ``init_from`` files that need full unpickling.
        log_images_every_n_steps: image grid to the loggers every N batches (0: never).
        val_batch_frames: frames per forward pass when reconstructing validation videos.
        val_max_frames: reconstruct at most this many frames per validation video.
    """

    def __init__(
        self,
        model_params: dict[str, Any],
        train_params: dict[str, Any],
        perceptual_network: dict[str, Any] | None = None,
        monitor: str = "val/l1",
        monitor_mode: str = "min",
        init_from: str | None = None,
        trust_checkpoint: bool = False,
        log_images_every_n_steps: int = 500,
        val_batch_frames: int = 16,
        val_max_frames: int | None = None,
    ) -> None:
        super().__init__()
        model_params = plain_container(model_params)
        train_params = plain_container(train_params)
        perceptual_network = plain_container(perceptual_network or {})
        self.save_hyperparameters()
        self.automatic_optimization = False
        check_train_params(train_params)
        check_monitor_mode(monitor_mode)
        self.networks = build_tpsmm_networks(model_params)
        self.scores = reconstruction_scores()
        self.networks.config["train_params"] = train_params
        self.loss_weights = train_params["loss_weights"]
        self.pyramid = ImagePyramid(
            [float(s) for s in train_params["scales"]],
            model_params["common_params"]["num_channels"],
        )
        self.perceptual = PerceptualPyramidLoss.from_config(train_params, perceptual_network)
        self._clip_groups: dict[int, list[torch.nn.Module]] = {}
        if init_from:
            summary = load_tpsmm_weights(
                self.networks, init_from, ("bg_predictor", "avd_network"), trust_checkpoint
            )
            log.info("Initialised from %s: %s", init_from, summary)

    # ------------------------------------------------------------------ training
    def background_active(self) -> bool:
        """Whether the background predictor takes part (it exists and ``bg_start`` is reached)."""
        start = int(self.hparams.train_params["bg_start"])
        return self.networks.bg_predictor is not None and self.current_epoch >= start

    def dropout(self) -> tuple[bool, float]:
        """This epoch's TPS dropout (flag, probability) from the config's schedule."""
        params = self.hparams.train_params
        return tps_dropout(
            self.current_epoch,
            int(params["dropout_epoch"]),
            float(params["dropout_startp"]),
            float(params["dropout_maxp"]),
            int(params["dropout_inc_epoch"]),
        )

    def losses(self, source: Tensor, driving: Tensor) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The weighted losses of one batch, and what was generated."""
        nets, weights = self.networks, self.loss_weights
        kp_source = nets.kp_detector(source)
        kp_driving = nets.kp_detector(driving)
        bg_param = nets.bg_predictor(source, driving) if self.background_active() else None
        dropout_flag, dropout_p = self.dropout()
        motion = nets.dense_motion_network(
            source_image=source,
            kp_driving=kp_driving,
            kp_source=kp_source,
            bg_param=bg_param,
            dropout_flag=dropout_flag,
            dropout_p=dropout_p,
        )
        generated = nets.inpainting_network(source, motion)
        generated.update(kp_source=kp_source, kp_driving=kp_driving)

        losses: dict[str, Tensor] = {}
        if self.perceptual.enabled:
            losses["perceptual"] = self.perceptual(
                self.pyramid(generated["prediction"]), self.pyramid(driving)
            )
        weight = float(weights["equivariance_value"])
        if weight != 0:
            transform = RandomTPSWarp(
                driving.shape[0],
                device=driving.device,
                **self.hparams.train_params["transform_params"],
            )
            kp_transformed = nets.kp_detector(transform.transform_frame(driving))
            losses["equivariance_value"] = weight * control_point_equivariance_loss(
                kp_driving, kp_transformed, transform
            )
        weight = float(weights["warp_loss"])
        if weight != 0:
            target = nets.inpainting_network.encode_occluded(driving, generated["occlusion_map"])
            losses["warp"] = weight * warp_loss(target, generated["warped_encoder_maps"])
        weight = float(weights["bg"])
        if bg_param is not None and weight != 0:
            reverse = nets.bg_predictor(driving, source)
            losses["bg"] = weight * background_cycle_loss(bg_param, reverse)
        return losses, generated

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:  # noqa: D102
        source, driving = batch["source"], batch["driving"]
        optimizer, *optimizer_bg = _as_list(self.optimizers())
        losses, generated = self.losses(source, driving)
        total = torch.stack([value.float() for value in losses.values()]).sum()
        for opt in (optimizer, *optimizer_bg):
            opt.zero_grad()
        self.manual_backward(total)
        # Under 16-mixed both optimizers step at the scale the loss was scaled by; the
        # scale is updated once, after the last step.
        with one_scaler_update(self._trainer):
            optimizer.step()
            if self.background_active():
                step_uncounted(self.trainer, optimizer_bg[0])

        batch_size = source.shape[0]
        metrics = {f"train/loss_{name}": value.detach() for name, value in losses.items()}
        self.log_dict(metrics, on_step=True, on_epoch=True, batch_size=batch_size)
        self.log(
            "train/loss_total",
            total.detach(),
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch_size,
        )
        self.log(
            "train/tps_dropout_p",
            self.dropout()[1],
            on_step=False,
            on_epoch=True,
            batch_size=batch_size,
        )
        every = self.hparams.log_images_every_n_steps
        if every and (self.global_step - 1) % every == 0:
            grid = animation_grid(
                source,
                driving,
                _occlusion_grid_view(generated),
                generated["kp_source"],
                generated["kp_driving"],
            )
            self.log_image("train/animation", grid)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip as the original, after the precision plugin unscaled what it unscales."""
        networks = self._clip_groups.get(id(optimizer), [])
        if not networks:
            return
        scale = 1.0
        plugin = getattr(self._trainer, "precision_plugin", None)
        scaler = getattr(plugin, "scaler", None)
        if scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
            scale = float(scaler.get_scale())
        for network in networks:
            clip_infinity_norm(network.parameters(), scale)

    def on_train_epoch_end(self) -> None:
        """MultiStepLR is stepped per epoch, as in the original."""
        with warnings.catch_warnings():
            # Before bg_start the background optimizer never steps; its schedule still
            # advances, as in the original.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for scheduler in _as_list(self.lr_schedulers()):
                scheduler.step()

    def configure_optimizers(self):  # noqa: D102
        params = self.hparams.train_params
        nets = self.networks
        lr = float(params["lr_generator"])
        main = [nets.kp_detector, nets.dense_motion_network, nets.inpainting_network]
        optimizer = make_adam(
            (p for net in main for p in net.parameters()), lr, weight_decay=WEIGHT_DECAY
        )
        optimizers = [optimizer]
        self._clip_groups = {id(optimizer): [nets.kp_detector, nets.dense_motion_network]}
        if nets.bg_predictor is not None:
            optimizer_bg = make_adam(nets.bg_predictor.parameters(), lr, weight_decay=WEIGHT_DECAY)
            self._clip_groups[id(optimizer_bg)] = [nets.bg_predictor]
            optimizers.append(optimizer_bg)
        milestones = list(params["epoch_milestones"])
        schedulers = [
            {"scheduler": MultiStepLR(opt, milestones, gamma=0.1), "interval": "epoch"}
            for opt in optimizers
        ]
        return optimizers, schedulers

    # ---------------------------------------------------------------- evaluation
    def reconstruction_animator(self, source: Tensor) -> TPSMMAnimator:
        """The official reconstruction: each frame's own points, with the background affine."""
        return TPSMMAnimator(self.networks, source, mode="standard", background=True)


class TPSMMAVDLitModule(ReconstructionValidation, PortableCheckpoints, pl.LightningModule):
    """The AVD stage (the original ``train_avd.py``): the AVD network on a frozen model.

    Each step: control points of source and driving by the frozen keypoint detector, the
    driving points stretched by random factors per axis, and the AVD network trained to
    recover them from the source's points and the stretched ones (``lambda_shift`` times
    the mean absolute error). Adam (betas 0.5, 0.999), MultiStepLR at
    ``epoch_milestones``. Every other network stays frozen in eval mode. Validation
    reconstructs the held-out videos in ``avd`` mode, so ``val/l1`` measures the AVD
    network.

    Args:
        model_params: the official ``model_params`` of the trained model.
        train_avd_params: the official ``train_avd_params`` (``lr``, ``epoch_milestones``,
            ``lambda_shift``, ``random_scale``; epochs, repeats and batch size are the
            trainer's and data's).
        init_from: the trained model (an official ``.pth.tar`` or our ``.ckpt``); required.
        train_params: the first stage's ``train_params``, only recorded (a dataset's recipe
            sets both stages' settings, so one composed config describes the model).
        trust_checkpoint: allow files that need full unpickling.
        monitor: the validation metric the best checkpoint is chosen by.
        monitor_mode: ``min`` or ``max``.
        log_images_every_n_steps: validation image grids (0: none).
        val_batch_frames: frames per forward pass when reconstructing validation videos.
        val_max_frames: reconstruct at most this many frames per validation video.
    """

    def __init__(
        self,
        model_params: dict[str, Any],
        train_avd_params: dict[str, Any],
        init_from: str | None = None,
        train_params: dict[str, Any] | None = None,
        trust_checkpoint: bool = False,
        monitor: str = "val/l1",
        monitor_mode: str = "min",
        log_images_every_n_steps: int = 500,
        val_batch_frames: int = 16,
        val_max_frames: int | None = None,
    ) -> None:
        super().__init__()
        model_params = plain_container(model_params)
        train_avd_params = plain_container(train_avd_params)
        train_params = plain_container(train_params)
        self.save_hyperparameters()
        check_avd_params(train_avd_params)
        self.networks = build_tpsmm_networks(model_params)
        self.scores = reconstruction_scores()
        self.networks.config["train_avd_params"] = train_avd_params
        self.frozen = [getattr(self.networks, name) for name in REQUIRED_NETWORKS]
        if self.networks.bg_predictor is not None:
            self.frozen.append(self.networks.bg_predictor)
        for network in self.frozen:
            network.requires_grad_(False).eval()
        if init_from:
            summary = load_tpsmm_weights(
                self.networks, init_from, ("bg_predictor", "avd_network"), trust_checkpoint
            )
            log.info("AVD stage on the model of %s: %s", init_from, summary)
        else:
            log.warning(
                "model.init_from is not set: the AVD stage trains on an untrained model "
                "(set model.init_from=<trained TPSMM checkpoint>)"
            )

    def train(self, mode: bool = True) -> TPSMMAVDLitModule:
        """Train mode for the AVD network only: the frozen model keeps its eval statistics.

        Why also eval at construction: Lightning records each submodule's mode before
        validation and restores it one by one afterwards, bypassing this method.
        """
        super().train(mode)
        for network in self.frozen:
            network.eval()
        return self

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:  # noqa: D102
        params = self.hparams.train_avd_params
        nets = self.networks
        with torch.no_grad():
            kp_source = nets.kp_detector(batch["source"])
            kp_driving = nets.kp_detector(batch["driving"])
            stretched = random_scale(kp_driving, float(params["random_scale"]))
        reconstructed = nets.avd_network(kp_source, stretched)
        loss = float(params["lambda_shift"]) * avd_reconstruction_loss(kp_driving, reconstructed)
        self.log(
            "train/loss_avd",
            loss.detach(),
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch["source"].shape[0],
        )
        return loss

    def configure_optimizers(self):  # noqa: D102
        params = self.hparams.train_avd_params
        optimizer = make_adam(self.networks.avd_network.parameters(), float(params["lr"]))
        scheduler = MultiStepLR(optimizer, list(params["epoch_milestones"]), gamma=0.1)
        return [optimizer], [{"scheduler": scheduler, "interval": "epoch"}]

    def reconstruction_animator(self, source: Tensor) -> TPSMMAnimator:
        """Reconstruction through the AVD network's points (the demo's ``avd`` mode)."""
        return TPSMMAnimator(self.networks, source, mode="avd", background=True)
