"""Chinese-aware full-text search without a search engine: every message stores its index
terms (overlapping character bigrams for CJK runs, lower-cased words for other scripts); a
query matches the messages holding all of its terms, and the text itself then confirms the
match and yields a snippet with the hits marked."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_TERMS = 2000
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")


def normalize(text: str) -> str:
    """Full-width forms to half-width and case folded, so ＡＢＣ finds abc."""
    return unicodedata.normalize("NFKC", text).casefold()


def _terms_of_token(token: str) -> list[str]:
    if _IS_CJK.match(token):
        if len(token) == 1:
            return [token]
        return [token[i:i + 2] for i in range(len(token) - 1)]
    return [token]


def index_terms(text: str) -> list[str]:
    """The distinct terms stored with a message. Single CJK characters are stored too, so a
    one-character query still finds them."""
    terms: dict[str, None] = {}
    for token in _TOKEN.findall(normalize(text)):
        if _IS_CJK.match(token):
            for char in token:
                terms.setdefault(char)
        for term in _terms_of_token(token):
            terms.setdefault(term)
        if len(terms) >= MAX_TERMS:
            break
    return list(terms)[:MAX_TERMS]


@dataclass(frozen=True)
class Query:
    phrases: tuple[str, ...]
    terms: tuple[str, ...]


def parse_query(q: str) -> Query:
    """Whitespace separates phrases that must all occur; each phrase must occur as written."""
    phrases = tuple(dict.fromkeys(p for p in normalize(q).split() if p))
    terms: dict[str, None] = {}
    for phrase in phrases:
        for token in _TOKEN.findall(phrase):
            for term in _terms_of_token(token):
                terms.setdefault(term)
    return Query(phrases, tuple(terms))


def _hits(text: str, phrases: tuple[str, ...]) -> list[tuple[int, int]] | None:
    """Spans of every phrase in `text`, or None if one is missing. NFKC keeps the length of
    CJK and ASCII text, so spans in the normalized text are spans in the original."""
    folded = normalize(text)
    if len(folded) != len(text):
        folded = text.casefold()
    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        start = folded.find(phrase)
        if start < 0:
            return None
        while start >= 0:
            spans.append((start, start + len(phrase)))
            start = folded.find(phrase, start + len(phrase))
    return sorted(spans)


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]


def snippet(text: str, query: Query, width: int = 80) -> Snippet | None:
    """A window of `text` around the first hit, with the hit spans relative to it."""
    spans = _hits(text, query.phrases)
    if spans is None or not spans:
        return None
    first = spans[0][0]
    start = max(0, first - width // 4)
    end = min(len(text), start + width)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    inside = [(max(s, start) + shift, min(e, end) + shift) for s, e in spans
              if s < end and e > start]
    return Snippet(prefix + text[start:end] + suffix, inside)
