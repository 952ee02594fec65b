"""Command groups of the ``personastream`` CLI, one module each."""
