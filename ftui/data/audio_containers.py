"""Container checks that tell a cut file from a whole one, where libsndfile cannot: the frames a WAV
header announces, whether an Ogg stream's last page is whole and flagged, whether a FLAC file ends on
a whole frame (by its CRC-16). Pure byte reading on an open binary handle; used by data/audio.py.
"""
from __future__ import annotations

import io


def wav_declared_frames(handle) -> int | None:
    """Frames a RIFF/WAVE header announces in its data chunk; None if not a WAV or the size is a
    streaming placeholder (0 or 0xFFFFFFFF, written before the length was known)."""
    handle.seek(0)
    head = handle.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, block_align = 12, 0
    for _ in range(1000):  # chunks before "data": fmt, LIST, bext, JUNK...
        handle.seek(position)
        chunk = handle.read(8)
        if len(chunk) < 8:
            return None
        kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        if kind == b"fmt ":
            body = handle.read(16)
            block_align = int.from_bytes(body[12:14], "little") if len(body) >= 14 else 0
        elif kind == b"data":
            if size in (0, 0xFFFFFFFF) or block_align <= 0:
                return None
            return size // block_align
        position += 8 + size + (size & 1)
    return None


def ogg_ends_cleanly(handle) -> bool:
    """The last Ogg page is whole and flagged end-of-stream (a page is at most 65,307 bytes)."""
    end = handle.seek(0, io.SEEK_END)
    start = max(0, end - 70_000)
    handle.seek(start)
    tail = handle.read()
    at = tail.rfind(b"OggS")
    if at < 0 or len(tail) - at < 27:
        return False
    header_type, n_segments = tail[at + 5], tail[at + 26]
    table = tail[at + 27:at + 27 + n_segments]
    whole = len(table) == n_segments and at + 27 + n_segments + sum(table) == len(tail)
    return whole and bool(header_type & 0x04)


def flac_ends_on_a_frame(handle) -> bool:
    """Whether a FLAC file's last bytes close a whole frame (a frame starts with the sync code
    0xFFF8/0xFFF9 and ends with a CRC-16 of itself). libsndfile says "lost sync" both for damage
    and for a cut; a cut leaves a partial last frame, damage does not."""
    end = handle.seek(0, io.SEEK_END)
    handle.seek(max(0, end - 65536))
    tail = handle.read()
    at, tried = len(tail), 0
    while tried < 8 and (at := max(tail.rfind(b"\xff\xf8", 0, at), tail.rfind(b"\xff\xf9", 0, at))) >= 0:
        tried += 1  # the last sync found may be a chance pair of bytes inside the frame: try a few
        if len(tail) - at > 4 and _crc16(tail[at:-2]) == int.from_bytes(tail[-2:], "big"):
            return True
    return False


def _crc16(data: bytes) -> int:
    """FLAC's frame CRC: polynomial 0x8005, initial 0, most significant bit first."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc
