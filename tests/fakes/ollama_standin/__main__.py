"""``python3 -m ollama_standin``, and the entry point of packed binaries."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
