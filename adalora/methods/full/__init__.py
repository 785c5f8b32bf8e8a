"""Full fine-tuning: every parameter trains (the paper's "Full FT")."""
from ...registry import Method, register
from ...sizes import Fixed
from .config import Full
from .model import attach_full

METHOD = register(Method(name="full", spec=Full, attach=attach_full, size=Fixed(selects="all"),
                         summary="every parameter"))
