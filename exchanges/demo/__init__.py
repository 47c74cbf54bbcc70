"""The built-in `demo` exchange: its instruments and its deterministic price feed."""
