"""Whether any piece of a secret reached a text: shared by the masking tests."""

# As long as the sandbox's key (secrets.token_urlsafe(32)); deterministic so that no fragment
# can turn up in the output by chance.
LONG_KEY = "Zq7Xw9Kv2Jm4Rt8Yp3Lh6Nc5Bd1Fg0Hs-Qe_Ua7Wi2O"


def fragments(secret: str, size: int = 4) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def leaked(text: str, secret: str = LONG_KEY) -> set[str]:
    return {piece for piece in fragments(secret) if piece in text}
