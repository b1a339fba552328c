"""Video index builders: FaceForensics++, DFDC, Celeb-DF and any labelled folder of videos.

Each builder returns the video index DataFrame of ``docs/architecture.md`` and runs as a
Hydra command (options in ``conf/index/<name>.yaml``) that writes it to CSV::

    python -m datamodules.indexes.ffpp root=/data/ffpp output=ffpp_c23.csv
    python -m datamodules.indexes.dfdc root=/data/dfdc output=dfdc.csv
    python -m datamodules.indexes.celebdf root=/data/celebdf output=celebdf.csv
    python -m datamodules.indexes.folder root=/data/mine output=mine.csv
"""
