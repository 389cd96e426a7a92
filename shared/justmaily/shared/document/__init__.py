"""The campaign document both sides run (its shape is in `justmaily.shared.collaboration`).

- `document.py`: read, hash and change a document on pycrdt by the smallest edits; relative
  positions for anchors and carets. Its names are importable from here.
- `rendering.py`: the body's Markdown as e-mail HTML and text (the preview and what is sent).
- `protocol.py`: the room's messages, read and written (y-protocols sync and awareness, and the
  "stored" ack), for the server, the desktop and every other Python client.

It reads the wire contract and nothing else of ours (import-linter holds it to that).
"""

from justmaily.shared.document.document import (
    changed_run,
    comments,
    content_hash,
    decode_position,
    encode_position,
    initial_update,
    load_document,
    materialise,
    new_comment,
    put_comment,
    rebase_text,
    replace_text,
    restore,
    review_state,
    text,
    texts,
    write_review_state,
)

__all__ = [
    "changed_run",
    "comments",
    "content_hash",
    "decode_position",
    "encode_position",
    "initial_update",
    "load_document",
    "materialise",
    "new_comment",
    "put_comment",
    "rebase_text",
    "replace_text",
    "restore",
    "review_state",
    "text",
    "texts",
    "write_review_state",
]
