"""LoRA variants through HF PEFT itself (DoRA, PiSSA, rsLoRA, LoRA+): one spec with a `variant`, sized like LoRA
(DoRA adds a magnitude per output)."""
from ...registry import Method, register
from ...sizes import Rank
from .config import PeftLoRA
from .model import attach_peft_lora

LORA_SIZED = Rank()
DORA_SIZED = Rank(magnitude=True)

METHOD = register(Method(name="peft-lora", spec=PeftLoRA, attach=attach_peft_lora,
                         size=lambda fields: DORA_SIZED if fields.get("variant", "dora") == "dora" else LORA_SIZED,
                         summary="LoRA variants as PEFT runs them: DoRA, PiSSA, rsLoRA, LoRA+"))
