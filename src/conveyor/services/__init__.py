"""One unit of work per call: a transaction, the domain's decision, the store's write,
events published after commit. No SQL and no HTTP here."""
