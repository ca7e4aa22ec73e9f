"""dupgate: a pre-commit hook that stops near-duplicate images from entering a repository."""

__version__ = "0.1.0"
