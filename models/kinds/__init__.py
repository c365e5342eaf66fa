"""One module per model kind; each exposes ``KIND``, an instance of ``models.kind.ModelKind``."""
