"""One module a subcommand, as in pre-commit's `pre_commit/commands/`; `main.py` dispatches.

Gating: `check` (the hook), `init` (also `update`), `allow`, `prune` (also `compact`).
Looking: `audit` (also `report`), `calibrate`. Each opens a `session.Session` and walks the
flow: paths -> images -> embed -> manifest -> compare -> report.
"""
