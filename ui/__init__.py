"""Browser chat page over the Assistant (Gradio). See ``ui.app``."""
