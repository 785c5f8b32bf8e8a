"""One package per method, each with its spec (config.py), its layer (layer.py) and how it attaches (model.py)."""
