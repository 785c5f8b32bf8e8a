"""BitFit (Ben Zaken et al., 2022): the backbone's biases train; its size is fixed by the model."""
from ...registry import Method, register
from ...sizes import Fixed
from .config import BitFit
from .model import attach_bitfit

METHOD = register(Method(name="bitfit", spec=BitFit, attach=attach_bitfit, size=Fixed(selects="bias"),
                         summary="the backbone's biases"))
