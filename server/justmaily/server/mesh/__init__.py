"""The agent mesh: content-intelligence agents, their registry, and the engine that routes each
document change to them and writes their verdicts into the document (docs/mesh.md)."""
