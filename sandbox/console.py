"""What the sandbox's commands tell the person running them, as they go (stderr, unbuffered)."""

import sys


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
