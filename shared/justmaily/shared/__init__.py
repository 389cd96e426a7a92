"""What the JustMaily server and its clients share, in three parts.

- The wire contract: the modules directly in this package (`auth`, `campaigns`, `collaboration`,
  `trust`, …). msgspec Structs and the rules both sides apply to them (the review state machine,
  the roles' permissions); standard library and msgspec only, no I/O. Evolve by msgspec's rules:
  new fields get defaults, array-like structs are never reordered, so an older desktop keeps
  talking to a newer server.
- `document/`: the campaign document both sides run (pycrdt, markdown-it) and the room protocol.
- `verify/`: the offline verifier and its `justmaily verify` command (cryptography, click).

import-linter holds the parts apart: the wire modules import neither of the other two, and those
two import nothing of ours but the wire contract.
"""
