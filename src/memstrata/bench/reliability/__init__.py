"""`memstrata bench reliability`: does the engine keep its word when things go wrong?

- crashloop.py (with workload.py, ledger.py, verify.py): SIGKILLs of a writer, library
  and server, and the store held to a ledger of what callers were told;
- isolation.py: one tenant's key against everything of another's, then hostile input
  that must not break the other tenant's service;
- residue.py: a purged person's name, words and vectors searched in every byte of the
  store's files and in every export;
- faults.py and corrupt.py (with battery.py): disk full, read-only media, damaged
  store and -wal files, a damaged model;
- run.py: the command, the contract every figure is held to, results.json / .md.

docs/reliability.md describes each check and holds the figures.
"""
