"""Keep the internal key out of everything verify prints or writes."""

import threading
from typing import Any

MASK = "****"


class Masker:
    """Replaces every registered secret in a string; thread-safe, shared by the whole run."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        # Very short values would mask ordinary words and numbers; real keys are long.
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def mask(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    def mask_value(self, value: Any) -> Any:
        """A JSON value (a result's expected/found) with every string in it masked, keys too."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask_value(k): self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_value(v) for v in value]
        return value

    def excerpt(self, text: str, limit: int) -> str:
        """At most `limit` characters of `text` on one line, masked first: clipping first
        could cut a secret so that the masker no longer recognises what is left of it."""
        text = " ".join(self.mask(text).split())
        return text if len(text) <= limit else text[: limit - 1] + "…"
