"""The sandbox's AWS: moto's server, with Invoke running the deployed Lambda code and Batch
jobs held in flight for the sandbox's video worker (sandbox/services/batch_runner.py).

Usage: python -m sandbox.services.aws_emulator -H 127.0.0.1 -p PORT  (moto_server's arguments)
"""

import os
import sys

from moto import server

from sandbox.services import batch_runner, lambda_runtime


def main(argv: list[str]) -> None:
    port = argv[argv.index("-p") + 1] if "-p" in argv else "5000"
    # The deployed code calls back into this same server.
    os.environ.setdefault("SANDBOX_SELF_URL", f"http://127.0.0.1:{port}")
    lambda_runtime.install()
    batch_runner.install()
    server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
