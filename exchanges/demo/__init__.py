"""The built-in `demo` exchange: its instruments, its deterministic price feed and its venue."""
