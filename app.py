"""The Gradio chat app: `python app.py` (same as `python -m rag serve`)."""

from rag.config import Settings
from rag.ui import launch

if __name__ == "__main__":
    launch(Settings())
