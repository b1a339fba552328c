"""The TPS dropout schedule of TPSMM training (Sec. 3.2, Eq. 7-8 of the paper)."""

from __future__ import annotations


def tps_dropout(
    epoch: int,
    dropout_epoch: int,
    dropout_startp: float,
    dropout_maxp: float,
    dropout_inc_epoch: int,
) -> tuple[bool, float]:
    """Whether to drop TPS transforms at ``epoch``, and with which probability.

    As the official training: for the first ``dropout_epoch`` epochs the probability is
    ``dropout_startp + epoch / dropout_inc_epoch * dropout_maxp``, capped at
    ``dropout_maxp``; from ``dropout_epoch`` on there is no dropout. Why: dropping whole
    transforms early makes each of them learn motion on its own, and switching it off
    later lets them cooperate.

    Args:
        epoch: the current epoch, from 0.
        dropout_epoch: first epoch without dropout (``train_params.dropout_epoch``).
        dropout_startp: probability at epoch 0.
        dropout_maxp: the cap.
        dropout_inc_epoch: epochs over which ``dropout_maxp`` is added.

    Returns:
        (``dropout_flag``, ``dropout_p``) for the dense motion network.

    Raises:
        ValueError: ``dropout_inc_epoch`` is not positive or ``dropout_maxp`` is outside [0, 1).
    """
    if dropout_inc_epoch <= 0:
        raise ValueError(
            f"train_params.dropout_inc_epoch must be positive, got {dropout_inc_epoch}"
        )
    if not 0 <= dropout_maxp < 1:
        raise ValueError(f"train_params.dropout_maxp must be in [0, 1), got {dropout_maxp}")
    if epoch >= dropout_epoch:
        return False, 0.0
    return True, min(epoch / dropout_inc_epoch * dropout_maxp + dropout_startp, dropout_maxp)
