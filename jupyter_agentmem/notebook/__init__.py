"""The notebook surface: the ``%%agent`` / ``%agent`` magics and the editable panel.

This is the only layer that knows IPython and ipywidgets; everything under it is
plain Python (docs/architecture.md, "Layers").
"""
