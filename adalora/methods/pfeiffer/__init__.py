"""Pfeiffer adapters (Pfeiffer et al., 2021): one bottleneck per layer after the FFN, the paper's "PAdapter"."""
from ...registry import Method, register
from ...sizes import AdapterWidth
from .config import Pfeiffer
from .model import attach_pfeiffer

METHOD = register(Method(name="pfeiffer", spec=Pfeiffer, attach=attach_pfeiffer,
                         size=AdapterWidth(paper="pfeiffer", sites="pfeiffer"),
                         summary="one bottleneck adapter per layer"))
