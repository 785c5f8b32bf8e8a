"""Houlsby adapters (Houlsby et al., 2019): two bottlenecks per layer, the paper's "HAdapter"."""
from ...registry import Method, register
from ...sizes import AdapterWidth
from .config import Houlsby
from .model import attach_houlsby

METHOD = register(Method(name="houlsby", spec=Houlsby, attach=attach_houlsby,
                         size=AdapterWidth(paper="houlsby", sites="houlsby"),
                         summary="two bottleneck adapters per layer"))
