import hashlib


def lock_key(namespace, value):
    """A 64-bit advisory lock key for a value in a namespace (an identifier type's id)."""
    digest = hashlib.blake2b(f"{namespace}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
