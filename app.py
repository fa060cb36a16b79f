"""The Gradio chat app: `python app.py` (same as `python -m rag serve`)."""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
