"""Masking (脱敏) of sensitive values for those who lack the right to see them: enough is left
to recognise one's own number, not enough to use someone else's."""

from __future__ import annotations

import logging
import re

KINDS = ("id_card", "phone")

# Shown of each kind: characters kept at the start and at the end.
_KEEP = {"id_card": (3, 4), "phone": (3, 4)}


def mask(kind: str, value: str) -> str:
    head, tail = _KEEP.get(kind, (0, 0))
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail:]


# What looks like a mainland ID-card number (18 characters, the last a digit or X) or a
# mobile number, standing alone: masked wherever it appears in a log line.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def mask_in_text(text: str) -> str:
    text = _ID_CARD.sub(lambda m: mask("id_card", m.group()), text)
    return _MOBILE.sub(lambda m: mask("phone", m.group()), text)


class MaskingFilter(logging.Filter):
    """Masks ID-card and mobile numbers in every record a handler writes: whatever a message
    or an exception happens to quote, the log never holds them whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_in_text(record.exc_text)
        return True


def mask_logs(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        handler.addFilter(MaskingFilter())
