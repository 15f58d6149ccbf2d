"""gradehub: autograded, sandboxed exercise sheets for NAT3008."""

__version__ = "0.1.0"
