"""What script a dataset's texts are written in, and whether legacy Chinese bytes look like Chinese.

ftui's default text backbone (all-MiniLM-L6-v2) reads English only: on Chinese reviews it barely beats
always answering the majority class (bench/chinese_text.py). So an upload whose texts are mostly
Chinese, Japanese or Korean gets the multilingual backbone suggested (catalog.suggested_model).
No torch, no tokenizer: counting characters is enough to tell scripts apart.
"""
from __future__ import annotations

from collections.abc import Iterable

CJK_SHARE = 0.3  # of the letters in the texts; a Chinese text is CJK almost only, an English one has none
SAMPLE_TEXTS = 2000  # enough to tell; a large upload is not read twice
# Unicode blocks of Chinese, Japanese and Korean writing (letters only: CJK punctuation is not counted)
CJK_RANGES = ((0x3040, 0x30FF),  # Hiragana, Katakana
              (0x3400, 0x4DBF),  # CJK Extension A
              (0x4E00, 0x9FFF),  # CJK Unified Ideographs
              (0xAC00, 0xD7AF),  # Hangul syllables
              (0xF900, 0xFAFF),  # CJK compatibility ideographs
              (0x20000, 0x3134F))  # CJK Extensions B-G


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES)


def cjk_share(texts: Iterable[str], sample: int = SAMPLE_TEXTS) -> float:
    """The share of CJK characters among the letters (CJK or alphabetic) of the first `sample` texts."""
    cjk = letters = 0
    for i, text in enumerate(texts):
        if i >= sample:
            break
        for char in str(text):
            if is_cjk(char):
                cjk += 1
                letters += 1
            elif char.isalpha():
                letters += 1
    return cjk / letters if letters else 0.0


def mostly_cjk(texts: Iterable[str]) -> bool:
    return cjk_share(texts) >= CJK_SHARE


def looks_like_gb18030(raw: bytes) -> str | None:
    """The text of `raw` if it decodes as GB18030 *and* reads as Chinese, else None.

    GB18030 decodes most Western bytes too (é followed by a letter is a valid pair), so a decoding alone
    proves nothing: a real Chinese file's non-ASCII characters are mostly the common ones of GB2312 (the
    6,763 everyday hanzi and the full-width punctuation), while a Windows-1252 file read as GB18030
    gives rare characters, one per accented letter."""
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [char for char in text if ord(char) > 0x7F]
    if not wide:
        return None  # plain ASCII: any decoder will do, the caller's first choice wins
    common = 0
    for char in wide:
        try:
            char.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return text if common / len(wide) >= 0.9 else None
