"""Is the Hugging Face Hub reachable? Asked once, quickly, so offline machines never sit through retries."""
from __future__ import annotations

import functools
import os

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def offline_requested() -> bool:
    return any(os.environ.get(v, "0").lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """False when HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set or huggingface.co does not answer within ``timeout``."""
    if offline_requested():
        return False
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint + "/api/models?limit=1", method="HEAD"),
                               timeout=timeout)
        return True
    except Exception:
        return False
