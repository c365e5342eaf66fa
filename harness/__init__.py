"""grpo-bench harness: registry, plan, stores, backends, judges, CLI."""
__version__ = "0.1.0"
