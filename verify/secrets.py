"""Keep the internal key out of everything verify prints or writes."""

import json
import threading
from typing import Any

MASK = "****"
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words and numbers; keys are long


def printed_forms(secret: str) -> set[str]:
    """The ways a library may print a secret: as it is, stripped (a stored key often keeps its
    newline), and escaped: requests quotes a refused header value with repr(), so `key\\n`
    shows as the two characters `\\n`; json and bytes reprs escape other characters."""
    forms = {secret, secret.strip(), repr(secret)[1:-1], json.dumps(secret)[1:-1],
             repr(secret.encode("utf-8", "surrogateescape"))[2:-1]}
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


class Masker:
    """Replaces every registered secret in a string; thread-safe, shared by the whole run."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            with self._lock:
                self._secrets |= printed_forms(secret)

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
