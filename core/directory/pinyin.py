"""Pinyin keys that let staff find 张三 by typing `zs` or `zhangsan`."""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin


def pinyin_keys(name: str) -> tuple[str, str]:
    """(full pinyin, initials), lower case, without tones or separators."""
    syllables = [s.lower() for s in lazy_pinyin(name, style=Style.NORMAL, errors="default")]
    full = "".join(ch for s in syllables for ch in s if ch.isalnum())
    initials = "".join(s.strip()[0] for s in syllables if s.strip()[:1].isalnum())
    return full, initials
