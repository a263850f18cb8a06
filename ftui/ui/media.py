"""Pictures and sounds from a user's files, decoded here and handed to Gradio as values.

Gradio serves what it is given as a value from its own cache, so no path inside the runs folder is
ever served to a browser (that folder also holds other users' files). Decoding goes through the data
layer's guarded readers (pixel cap, EXIF rotation; soundfile, first seconds only); no torch.
"""
from __future__ import annotations

from pathlib import Path

THUMBNAIL_PX = 128
PLAY_SECONDS = 10.0


def thumbnail(path, px: int = THUMBNAIL_PX):
    """A small PIL image of a picture file, or None if it cannot be read (any more)."""
    from PIL import Image

    from ftui.data.images import ImageProblem, decode

    try:
        image, _ = decode(Path(path), draft=px)
    except (ImageProblem, OSError):
        return None
    image.thumbnail((px, px), Image.Resampling.BILINEAR)
    return image


def playable(path, seconds: float = PLAY_SECONDS):
    """(rate, int16 samples) of a sound file's first `seconds` for gr.Audio, or None if unreadable.
    int16 because that is what Gradio encodes (it would convert float and warn)."""
    import numpy as np

    from ftui.data.audio import AudioProblem, read_clip

    try:
        samples, rate = read_clip(Path(path), seconds)
    except (AudioProblem, OSError):
        return None
    return int(rate), (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
