"""Which pooling a checkpoint was trained with, from its sentence-transformers files.

sentence-transformers checkpoints (all-MiniLM-L6-v2 among them) ship `modules.json`,
whose Pooling module's folder (`1_Pooling/`) holds `config.json` with flags such as
`"pooling_mode_mean_tokens": true`. Their `[CLS]` pooler was never trained (the
sentence vector is the mean of the token vectors), so a head on it starts from noise;
a mean-pooling head starts from what the checkpoint learned. A recipe's
`head = "auto"` asks this module.
"""

import json
import pathlib

# sentence-transformers' flag -> tfbert's head; the first set flag wins.
_MODES = (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "cls"))


def checkpoint_pooling(directory):
    """(head, reason): "mean" or "cls" as the checkpoint's files say, else ("cls", why)."""
    directory = pathlib.Path(directory)
    modules_file = directory / "modules.json"
    if not modules_file.is_file():
        return "cls", "no sentence-transformers modules.json: [CLS], BERT's own pooling"
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        pooling = next((m for m in modules if str(m.get("type", "")).endswith(".Pooling")), None)
        if pooling is None:
            return "cls", f"{modules_file} names no Pooling module: [CLS]"
        config_file = directory / pooling.get("path", "") / "config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"{modules_file}: cannot read the checkpoint's pooling ({error}); "
                         f"set head explicitly (cls, attention or mean).") from None
    for flag, head in _MODES:
        if config.get(flag) is True:
            return head, f"{config_file} sets {flag}"
    return "cls", f"{config_file} sets neither mean nor [CLS] pooling: [CLS]"
