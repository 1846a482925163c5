"""The active speaker, from the audio levels publishers put in their packets (RFC 6464:
0 is the loudest, 127 silence, in -dBov).

Hysteresis: a voice counts only above SPEECH_LEVEL; loudness is smoothed over about half a
second; the speaker changes only when another voice has been clearly louder (by MARGIN) for
SWITCH_AFTER seconds, and a speaker keeps the floor at least HOLD seconds. A cough does not
move the highlight, a real change of speaker does within a second."""

from __future__ import annotations

from dataclasses import dataclass

SPEECH_LEVEL = 70          # quieter than -70 dBov is background
SMOOTHING = 0.5            # seconds for the loudness to move most of the way
MARGIN = 6.0               # how much louder (dB, smoothed) a challenger must be
SWITCH_AFTER = 0.6         # seconds a challenger must stay louder
HOLD = 1.5                 # seconds a new speaker keeps the floor at least
SILENT_AFTER = 2.0         # seconds without speech after which a voice scores nothing


@dataclass
class _Voice:
    loudness: float = 0.0
    updated: float = 0.0
    spoke_at: float = float("-inf")
    louder_since: float | None = None


class ActiveSpeaker:
    def __init__(self) -> None:
        self._voices: dict[str, _Voice] = {}
        self.current: str | None = None
        self._since = float("-inf")

    def observe(self, key: str, level: int, now: float) -> None:
        voice = self._voices.setdefault(key, _Voice(updated=now))
        loudness = float(max(0, SPEECH_LEVEL - level))
        dt = max(0.0, now - voice.updated)
        weight = min(1.0, dt / SMOOTHING) if dt else 0.05
        voice.loudness += (loudness - voice.loudness) * weight
        voice.updated = now
        if loudness > 0:
            voice.spoke_at = now

    def forget(self, key: str) -> None:
        self._voices.pop(key, None)
        if self.current == key:
            self.current = None

    def _score(self, key: str | None, now: float) -> float:
        voice = self._voices.get(key) if key is not None else None
        if voice is None or now - voice.spoke_at > SILENT_AFTER:
            return 0.0
        return voice.loudness

    def decide(self, now: float) -> str | None:
        """Re-evaluate; returns the new speaker when it changed, else None."""
        current_score = self._score(self.current, now)
        best, best_score = None, 0.0
        for key in self._voices:
            score = self._score(key, now)
            if key != self.current and score > best_score:
                best, best_score = key, score
        for key, voice in self._voices.items():
            if key != best:
                voice.louder_since = None
        if best is None or best_score < current_score + MARGIN:
            if best is not None:
                self._voices[best].louder_since = None
            return None
        challenger = self._voices[best]
        if challenger.louder_since is None:
            challenger.louder_since = now
        held = now - self._since >= HOLD or current_score == 0.0
        if now - challenger.louder_since >= SWITCH_AFTER and held:
            challenger.louder_since = None
            self.current, self._since = best, now
            return best
        return None
