"""One package per method: its spec (config.py), its layer (layer.py), how it attaches (model.py) and, in its
`__init__.py`, its registered record (adalora.registry): importing this package registers every built-in method.
Shared parts: bottleneck.py (the adapters' bottleneck), validation.py."""
from . import adalora, bitfit, full, houlsby, increlora, lora, peft_lora, pfeiffer, prune_lora, sora  # noqa: F401 - each registers itself
