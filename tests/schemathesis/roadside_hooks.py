"""Schemathesis hooks for roadside-server (loaded through SCHEMATHESIS_HOOKS by run.py)."""

import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def tus_chunk(ctx, value):
    """A tus PATCH body is the chunk's raw bytes (tus 1.0.0 core protocol)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return b""
