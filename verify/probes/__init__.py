"""Fact gathering: AWS calls, HTTP requests and commands over a host transport, each returning
small typed facts. Judging those facts against the stack's contract is verify/checks/' job:
pure functions, tested without a network."""
