"""The browser chat page over ``rag.Assistant`` (Gradio), installed as ``rag.ui``.

``render`` turns answers into HTML (no Gradio), ``app`` lays out the page and handles its
events, ``server`` launches it (``rag serve``); ``style.css`` styles it.
"""
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before any module of this package imports gradio
