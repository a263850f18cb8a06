"""Audio files -> mono float32 samples, and an audio upload -> Examples (paths, labels, summary, issues).

Decoding is soundfile's libsndfile (WAV, FLAC, OGG Vorbis/Opus, MP3; torchaudio.load needs ffmpeg,
which we do not assume). m4a/AAC/MP4, WMA, AMR and WebM are recognised by their first bytes and
refused with a clear "unsupported format", whatever the file is called.

Every file is decoded once, whole, at inspection (in blocks: memory stays small), because
libsndfile is forgiving in ways that would hide a bad file: a truncated WAV simply reports fewer
frames, a truncated Ogg looks like a shorter one, a truncated MP3 keeps the length its header
claims and reads short. So what cannot train (not audio, unsupported, empty, truncated, corrupt, an
exact duplicate) is skipped and listed with a reason while the rest trains.

Long clips: the first `max_seconds` are used (read_clip), read straight from the start of the file,
so a ten-minute recording costs a few seconds of memory, not ten minutes. No resampling and no
torch here (the task resamples; the web app imports this at start-up): numpy and soundfile only.
"""
from __future__ import annotations

import io
import statistics
from collections import Counter
from pathlib import Path

import numpy as np

from ftui.config import DataOptions
from ftui.data.archive import AUDIO_EXTENSIONS, UNSUPPORTED_AUDIO_EXTENSIONS
from ftui.data.audio_containers import flac_ends_on_a_frame, ogg_ends_cleanly, wav_declared_frames
from ftui.data.examples import Examples
from ftui.data.files import FileKind, SkipFile, load_file_examples, spread
from ftui.vocab import TaskName

UNSUPPORTED_EXTENSIONS = UNSUPPORTED_AUDIO_EXTENSIONS
__all__ = ["AUDIO_EXTENSIONS", "UNSUPPORTED_EXTENSIONS", "AudioProblem", "probe", "read_clip", "load_audio_examples"]

BLOCK = 65536  # frames per read while verifying: bounded memory whatever the clip's length
MP3_FRAME = 1152  # samples per MPEG frame
SAMPLES_PER_CLASS = 3  # file paths per class for the preview players

# First bytes of containers libsndfile cannot decode, or of things that are surely not audio (checked
# before libsndfile, whose MP3 reader will lock onto a chance sync word in arbitrary binary data).
ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")  # WMA/WMV
EBML = b"\x1a\x45\xdf\xa3"  # Matroska/WebM
NOT_AUDIO_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"%PDF", b"PK\x03\x04", b"II*\x00", b"MM\x00*")


# Why a file was skipped -> its sentence's code in ftui/messages.py, spelled out: AudioProblem's reasons
# and files.py's own (corrupt on disk, duplicate, missing from a manifest). "corrupt" and "duplicate"
# have audio wording of their own.
SKIP_CODES = {"unsupported_format": "skip_unsupported_format", "not_audio": "skip_not_audio", "empty": "skip_empty",
              "truncated": "skip_truncated", "corrupt": "skip_audio_corrupt", "duplicate": "skip_audio_duplicate",
              "missing": "skip_missing"}


class AudioProblem(Exception):
    """A file that is not usable audio; `reason` is a skip reason: unsupported_format, not_audio, empty,
    truncated or corrupt (SKIP_CODES gives its message)."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def probe(data: bytes | str | Path) -> dict:
    """{"format", "subtype", "sample_rate", "channels", "frames", "duration_s"} of a clip, after
    decoding all of it (frames counts what actually decodes). Raises AudioProblem."""
    with _handle(data) as handle, _open(handle) as sound:
        declared = sound.frames
        frames = 0
        try:
            while True:
                block = sound.read(BLOCK, dtype="float32", always_2d=True)
                if not len(block):
                    break
                frames += len(block)
        except RuntimeError as exc:  # libsndfile: "flac decoder lost sync" and the like
            cut = sound.format == "FLAC" and not flac_ends_on_a_frame(handle)
            raise AudioProblem("truncated" if cut else "corrupt", str(exc)) from None
        info = {"format": sound.format, "subtype": sound.subtype, "sample_rate": sound.samplerate,
                "channels": sound.channels}
    _check_count(info["format"], declared, frames)
    return {**info, "frames": frames, "duration_s": frames / info["sample_rate"]}


def read_clip(data: bytes | str | Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """(mono float32 samples, native sample rate). Long clips: only the first `max_seconds` are
    read (None: all of it). Channels are averaged; nothing is resampled. Raises AudioProblem."""
    if max_seconds is not None and max_seconds <= 0:
        raise ValueError(f"max_seconds must be above 0 (got {max_seconds})")
    with _handle(data) as handle, _open(handle) as sound:
        rate, declared = sound.samplerate, sound.frames
        wanted = declared if max_seconds is None else min(declared, int(round(max_seconds * rate)))
        try:
            # read(n) allocates n frames, not the file's length: this is the cut that keeps memory small
            samples = sound.read(wanted, dtype="float32", always_2d=True)
        except RuntimeError as exc:
            raise AudioProblem("corrupt", str(exc)) from None
        fmt = sound.format
    _check_count(fmt, wanted, len(samples))
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32), rate


# -- checks -------------------------------------------------------------------------------
class _handle:
    """A seekable binary file for bytes or a path (a path is read as needed, never whole)."""

    def __init__(self, data):
        self.data = data

    def __enter__(self):
        if isinstance(self.data, (bytes, bytearray, memoryview)):
            self.file = io.BytesIO(bytes(self.data))
        else:
            try:
                self.file = open(self.data, "rb")
            except IsADirectoryError:
                raise AudioProblem("not_audio", "a folder") from None
        return self.file

    def __exit__(self, *exc):
        self.file.close()


def _open(handle):
    """A soundfile.SoundFile on `handle`, after the checks libsndfile does not make. Raises AudioProblem."""
    import soundfile  # here, not at the top: importing ftui.data.audio stays cheap

    head = handle.read(64)
    if not head:
        raise AudioProblem("empty")
    _sniff(handle, head)
    # Raw checks before libsndfile owns the handle (it keeps its own idea of the file position).
    declared_wav = wav_declared_frames(handle)
    if head.startswith(b"OggS") and not ogg_ends_cleanly(handle):
        raise AudioProblem("truncated", "the last Ogg page is incomplete or not the end of the stream")
    handle.seek(0)
    try:
        sound = soundfile.SoundFile(handle)
    except soundfile.LibsndfileError as exc:
        unrecognised = exc.code == 1  # SF_ERR_UNRECOGNISED_FORMAT
        reason = "not_audio" if unrecognised and not _audio_container(head) else "corrupt"
        raise AudioProblem(reason, exc.error_string) from None
    except (RuntimeError, ValueError, TypeError) as exc:
        raise AudioProblem("corrupt", str(exc)) from None
    try:
        if sound.samplerate <= 0 or sound.channels <= 0:
            raise AudioProblem("corrupt", "no sample rate or no channels")
        # A cut-off WAV opens fine: libsndfile shrinks the frame count to what is there. The header knows.
        if declared_wav is not None and declared_wav > sound.frames:
            raise AudioProblem("truncated", f"header: {declared_wav} frames, file: {sound.frames}")
        if sound.frames == 0:
            raise AudioProblem("empty")
    except BaseException:
        sound.close()
        raise
    return sound


def _check_count(fmt: str, expected: int, got: int) -> None:
    """Fewer frames decoded than announced: truncated. MP3 lengths are estimates (a VBR header, or the
    file size over the bit rate), so a couple of frames or 2% may be missing without it being a cut."""
    slack = max(2 * MP3_FRAME, expected // 50) if fmt == "MP3" else 0
    if got == 0:
        raise AudioProblem("truncated" if expected > slack else "empty")
    if got < expected - slack:
        raise AudioProblem("truncated", f"header: {expected} frames, decoded: {got}")


def _sniff(handle, head: bytes) -> None:
    """Containers libsndfile cannot decode and sure non-audio, told from the first bytes (not the name)."""
    if head.startswith(b"ID3") and len(head) >= 10:  # ID3v2 tag in front: the audio (MP3, or AAC) follows it
        size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10])) + 10
        size += 10 if head[5] & 0x10 else 0  # footer present
        handle.seek(size)
        inner = handle.read(16)
        if _unsupported(inner):
            raise AudioProblem("unsupported_format", "AAC after an ID3 tag")
        return
    if _unsupported(head):
        raise AudioProblem("unsupported_format")
    if head.startswith(NOT_AUDIO_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or (
            head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\0\0\0\0"):
        raise AudioProblem("not_audio")


def _unsupported(head: bytes) -> bool:
    return (head[4:8] == b"ftyp"  # MP4 family: m4a, m4b, mp4, 3gp, mov
            or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0)  # ADTS AAC (0xFFF1, 0xFFF9)
            or head.startswith((b"ADIF", b"#!AMR", EBML, ASF_GUID)))


def _audio_container(head: bytes) -> bool:
    """Starts like an audio file: if libsndfile cannot read it, it is broken rather than "not audio"."""
    return ((head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE") or head.startswith((b"fLaC", b"OggS", b"ID3"))
            or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC")))


# -- uploads ------------------------------------------------------------------------------
def load_audio_examples(path: Path, options: DataOptions | None = None) -> Examples:
    """An audio upload (ZIP or folder) -> Examples whose inputs are absolute audio file paths.
    Raises FtuiError for whole-upload problems (bad/unsafe archive, no class folders, no audio)."""
    return load_file_examples(Path(path), SOUNDS)


def _check(file: Path) -> dict:
    try:
        return probe(file)
    except AudioProblem as problem:
        raise SkipFile(problem.reason) from None


def _describe(infos: list[dict], by_label: dict[str, list[str]]) -> dict:
    return {"formats": dict(Counter(i["format"] for i in infos).most_common()),
            "sample_rates": _counts(i["sample_rate"] for i in infos),
            "channels": _counts(i["channels"] for i in infos),
            "durations": _duration_stats([i["duration_s"] for i in infos]),
            "samples": {label: spread(files, SAMPLES_PER_CLASS) for label, files in by_label.items()}}


def _skip_message(reason: str) -> str:
    from ftui.messages import describe

    return describe(SKIP_CODES[reason])


def _counts(values) -> dict[str, int]:
    """{"8000": n, ...}: string keys (JSON), most common first."""
    return {str(value): n for value, n in Counter(values).most_common()}


def _duration_stats(durations: list[float]) -> dict:
    if not durations:
        return {}
    return {"min": round(min(durations), 2), "median": round(statistics.median(durations), 2),
            "max": round(max(durations), 2), "total": round(sum(durations), 2)}


SOUNDS = FileKind(kind=TaskName.AUDIO, check=_check, skip_message=_skip_message, describe=_describe,
                  no_files_code="no_audio", skipped_code="audio_skipped", no_folders_code="no_audio_class_folders")
