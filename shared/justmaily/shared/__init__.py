"""The wire contract between the JustMaily server and its clients.

msgspec Structs only: no I/O, no framework imports. Evolve by msgspec's rules: new fields get
defaults, array-like structs are never reordered, so an older desktop keeps talking to a newer
server.
"""
