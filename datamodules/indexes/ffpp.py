"""FaceForensics++ video index: originals and manipulations of one compression level.

Layout (as the official download script writes it)::

    ROOT/original_sequences/youtube/<c23|c40|raw>/videos/000.mp4
    ROOT/manipulated_sequences/<Method>/<c23|c40|raw>/videos/000_003.mp4   # target_source
    ROOT/original_sequences/actors/<c>/videos/01__exit_phone_room.mp4      # DeepFakeDetection
    ROOT/manipulated_sequences/DeepFakeDetection/<c>/videos/01_02__exit_phone_room__X.mp4

The fake ``000_003`` puts the face of video 003 on video 000, so its original is 000.

Split: the official ``train.json``, ``val.json``, ``test.json`` (from the FaceForensics
repository, ``dataset/splits``): lists of pairs of original ids, 360/70/70 pairs, so
720/140/140 originals; a pair's two originals and its two fakes ``a_b`` and ``b_a`` share a
split. Looked for in ``splits_dir`` or ``ROOT/splits``. Without them the builder stops
and says so, unless ``split=seeded`` asks explicitly for a seeded 72/14/14 split of the
pairs (the paper's own code drew a seed-41 permutation of the originals; its exact draw
depends on their file ordering and cannot be reproduced, so seeded is not "the paper's").

Identities: each YouTube original is taken as its own person (``identity`` = its id, a
fake's ``source_identity`` = the id of the original whose face it shows); a fake whose two
originals the split files put in different splits is left out (with a warning), so no
person crosses splits.

DeepFakeDetection (actors) is not covered by the official split; when asked for, its
actors are split with the seed (72/14/14) as whole people, and a fake of two actors of
different splits is left out (with a warning).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from datamodules.command_errors import exit_on_user_error
from datamodules.indexes.common import (
    DatasetLayoutError,
    finish_index,
    group_split,
    identity_split,
    log_left_out,
    require_dir,
    video_files,
    video_id,
    write_index,
)

log = logging.getLogger(__name__)

PAPER_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
ALL_METHODS = PAPER_METHODS + ("FaceShifter", "DeepFakeDetection")
COMPRESSIONS = ("c23", "c40", "raw")
SEEDED_FRACTIONS = {"train": 0.72, "val": 0.14, "test": 0.14}
_LAYOUT_HINT = (
    "Expected the FaceForensics++ download layout: ROOT/original_sequences/youtube/<c23|c40>/"
    "videos/*.mp4 and ROOT/manipulated_sequences/<Method>/<c23|c40>/videos/*.mp4."
)


def read_official_splits(splits_dir: Path) -> dict[str, str]:
    """Map every original id (``"000"``) to its split from the official JSON pair lists."""
    assignment: dict[str, str] = {}
    for split in ("train", "val", "test"):
        file = splits_dir / f"{split}.json"
        if not file.is_file():
            raise DatasetLayoutError(f"FaceForensics++ split file {file} not found.")
        pairs = json.loads(file.read_text())
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
            raise ValueError(f"{file}: expected a JSON list of [id, id] pairs of original videos.")
        for pair in pairs:
            for original in pair:
                if assignment.get(str(original), split) != split:
                    raise ValueError(f"{file}: original {original} is also in another split.")
                assignment[str(original)] = split
    return assignment


def _union_groups(links: list[tuple[str, str]], nodes: list[str]) -> dict[str, str]:
    """Connected components of originals linked by fakes (a_b links a and b)."""
    parent = {node: node for node in nodes}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in links:
        parent[find(a)] = find(b)
    return {node: find(node) for node in parent}


def _youtube_rows(root: Path, compression: str, methods: list[str]) -> pd.DataFrame:
    original_dir = require_dir(
        root / "original_sequences" / "youtube" / compression / "videos",
        f"FaceForensics++ originals ({compression})",
        _LAYOUT_HINT,
    )
    originals = {p.stem: p for p in video_files(original_dir)}
    if not originals:
        raise DatasetLayoutError(f"No .mp4 originals in {original_dir}. {_LAYOUT_HINT}")
    rows = [
        {
            "video": video_id(p, root),
            "path": p,
            "label": 0,
            "method": "youtube",
            "key": stem,
            "identity": stem,
        }
        for stem, p in originals.items()
    ]
    for method in methods:
        folder = root / "manipulated_sequences" / method / compression / "videos"
        require_dir(folder, f"FaceForensics++ {method} ({compression})", _LAYOUT_HINT)
        for path in video_files(folder):
            target, _, source = path.stem.partition("_")
            if target not in originals:
                log.warning(
                    "FF++: %s has no original %s.mp4 in %s; skipped", path, target, original_dir
                )
                continue
            rows.append(
                {
                    "video": video_id(path, root),
                    "path": path,
                    "label": 1,
                    "method": method,
                    "original": video_id(originals[target], root),
                    "identity": target,
                    "source_identity": source,
                    "key": target,
                    "partner": source,
                }
            )
    return pd.DataFrame(rows)


def _actor_rows(root: Path, compression: str) -> pd.DataFrame:
    original_dir = require_dir(
        root / "original_sequences" / "actors" / compression / "videos",
        f"FaceForensics++ actor originals ({compression}) for DeepFakeDetection",
        _LAYOUT_HINT,
    )
    fake_dir = require_dir(
        root / "manipulated_sequences" / "DeepFakeDetection" / compression / "videos",
        f"FaceForensics++ DeepFakeDetection ({compression})",
        _LAYOUT_HINT,
    )
    originals = {p.stem: p for p in video_files(original_dir)}
    rows = [
        {
            "video": video_id(p, root),
            "path": p,
            "label": 0,
            "method": "actors",
            "identity": f"actors/{stem.split('__')[0]}",
        }
        for stem, p in originals.items()
    ]
    for path in video_files(fake_dir):
        actors, _, rest = path.stem.partition("__")
        target, _, source = actors.partition("_")
        scene = rest.split("__")[0]
        original = originals.get(f"{target}__{scene}")
        if original is None:
            log.warning("FF++: %s has no original %s__%s.mp4; skipped", path, target, scene)
            continue
        rows.append(
            {
                "video": video_id(path, root),
                "path": path,
                "label": 1,
                "method": "DeepFakeDetection",
                "original": video_id(original, root),
                "identity": f"actors/{target}",
                "source_identity": f"actors/{source}",
            }
        )
    return pd.DataFrame(rows)


def _seeded(rows: pd.DataFrame, seed: int) -> pd.Series:
    partners = rows["partner"].fillna(rows["key"]) if "partner" in rows else rows["key"]
    links = list(zip(rows["key"], partners, strict=True))
    groups = _union_groups(links, rows["key"].tolist())
    return group_split(rows["key"].map(groups), SEEDED_FRACTIONS, seed)


def ffpp_index(
    root: str | os.PathLike,
    compression: str = "c23",
    methods: list[str] | tuple[str, ...] | str = PAPER_METHODS,
    splits_dir: str | os.PathLike | None = None,
    split: str = "official",
    seed: int = 41,
) -> pd.DataFrame:
    """Index FaceForensics++ originals and the chosen manipulations of one compression.

    Args:
        root: the dataset root (holding ``original_sequences`` and ``manipulated_sequences``).
        compression: ``c23`` (the paper's), ``c40`` or ``raw``.
        methods: manipulation folders to include (the paper's four by default), or
            ``all`` for every one of Deepfakes, Face2Face, FaceSwap, NeuralTextures,
            FaceShifter and DeepFakeDetection present on disk.
        splits_dir: folder with the official ``train.json``/``val.json``/``test.json``
            (default ``ROOT/splits``).
        split: ``official`` (needs the JSON files) or ``seeded`` (a seeded 72/14/14
            split of the linked originals, for when the official files are unavailable).
        seed: seed of the ``seeded`` split and of the DeepFakeDetection actor split.
            Both keep every original, and every person a fake shows, in one split.

    Returns:
        The video index (``method`` is ``youtube``/``actors`` for originals).

    Raises:
        DatasetLayoutError: the root, a method folder or the split files are missing.
    """
    root = Path(root).expanduser().resolve()
    require_dir(root, "FaceForensics++ root", _LAYOUT_HINT)
    if compression not in COMPRESSIONS:
        raise ValueError(
            f"compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}"
        )
    if methods == "all":
        present = root / "manipulated_sequences"
        chosen = [m for m in ALL_METHODS if (present / m / compression / "videos").is_dir()]
    else:
        chosen = [methods] if isinstance(methods, str) else list(methods)
    unknown = sorted(set(chosen) - set(ALL_METHODS))
    if unknown:
        raise ValueError(f"Unknown FF++ methods {unknown}; choose from {', '.join(ALL_METHODS)}.")
    if split not in ("official", "seeded"):
        raise ValueError(f"split must be official or seeded, got {split!r}")
    youtube = _youtube_rows(root, compression, [m for m in chosen if m != "DeepFakeDetection"])
    if split == "official":
        folder = Path(splits_dir) if splits_dir else root / "splits"
        if not all((folder / f"{s}.json").is_file() for s in ("train", "val", "test")):
            raise DatasetLayoutError(
                f"The official FaceForensics++ split files (train.json, val.json, test.json) are "
                f"not in {folder}. Download them from the FaceForensics repository "
                "(dataset/splits) and pass splits_dir=..., or pass split=seeded for a seeded "
                "72/14/14 split of the originals (not the official one)."
            )
        official = read_official_splits(folder)
        youtube["split"] = youtube["key"].map(official)
        partner_split = youtube["partner"].map(official) if "partner" in youtube else None
        if partner_split is not None:
            crossing = partner_split.notna() & partner_split.ne(youtube["split"])
            log_left_out(
                "ffpp",
                youtube[crossing],
                "fakes whose two originals the split files put in different splits",
            )
            youtube = youtube[~crossing]
        outside = youtube[youtube["split"].isna()]
        if len(outside):
            log.warning(
                "FF++: %d videos belong to originals absent from the official split files "
                "(e.g. %s); left out.",
                len(outside),
                ", ".join(outside["video"].head(3)),
            )
            youtube = youtube.dropna(subset=["split"])
    else:
        youtube["split"] = _seeded(youtube, seed)
    parts = [youtube]
    if "DeepFakeDetection" in chosen:
        actors = _actor_rows(root, compression)
        people = [actors.get("source_identity", pd.Series("", index=actors.index)).fillna("")]
        actors["split"] = identity_split(actors["identity"], people, SEEDED_FRACTIONS, seed)
        log_left_out(
            "ffpp DeepFakeDetection",
            actors[actors["split"].isna()],
            "fakes of two actors the seeded split put in different splits",
        )
        parts.append(actors.dropna(subset=["split"]))
    rows = pd.concat(parts, ignore_index=True).drop(columns=["key", "partner"], errors="ignore")
    rows["path"] = rows["path"].astype(str)
    return finish_index(rows, f"ffpp_{compression}")


@hydra.main(version_base="1.3", config_path="../../conf", config_name="index/ffpp")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m datamodules.indexes.ffpp root=DIR output=FILE.csv [option=value ...]``."""
    write_index(ffpp_index, cfg)


if __name__ == "__main__":
    main()
