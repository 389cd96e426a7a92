"""The offline verifier: what a recipient, an auditor or the desktop checks without trusting the
server, against keys they pinned.

- `transparency.py`: RFC 9162 Merkle hashing, inclusion and consistency proofs, C2SP checkpoints
  signed with Ed25519 (checked against the transparency-dev test vectors).
- `certificates.py`: campaign certificates and service credentials checked against a pinned CA.
- `evidence.py`: a message's body hash and its leaf in a send's batch.
- `service_tokens.py`: how a process signs in with its service credential.
- `audit.py`: the checks of `justmaily verify`, as readable reports; `cli.py`: that command.

Standard library, `cryptography`, `click` and the wire contract only (import-linter holds it to
that): no pycrdt, no network, nothing of the server.
"""
