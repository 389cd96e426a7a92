"""Several server processes on one machine (docs/design/processes.md): a supervisor forks the
workers after binding the public port; each worker accepts for itself, serves REST where it
lands and hands a room's WebSocket to the room's owner."""
