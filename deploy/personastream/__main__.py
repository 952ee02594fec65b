"""``python -m personastream`` is the ``personastream`` command."""
from personastream.cli import main

main()
