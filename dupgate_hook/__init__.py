"""dupgate: a pre-commit hook that stops near-duplicate images from entering a repository."""

import os

# dupgate scores with many small matrix products and runs its own worker threads. OpenBLAS's
# threads on top of those oversubscribe the cores and spin while they wait: on this project's
# 2-core benchmark machine, 1 x 10,000 scoring took 3x and a 1,000-image audit 15x the time
# (benchmarks/README.md, 2026-11-23). Only effective when numpy is not imported yet (the
# CLI); an explicit setting in the environment wins.
for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

__version__ = "0.1.0"  # the one place (pyproject.toml reads it); a release tags v<this>
