"""Node secrets derived from the server's key, so push requests can be signed.

A node's secret is stored only as an argon2 hash, which the server cannot sign
with. So the secret is not random: it is ``HMAC-SHA256(server_key,
"node:{node_id}:{secret_version}")``, urlsafe-base64 without padding. The server
can recompute it whenever it signs a push request or checks a push node's
answer, while the database still holds only the hash (a stolen database gives no
secret; a stolen server key gives all of them, like it gives the power to mint
any JWT). Rotation bumps ``secret_version`` and so yields a new, unrelated secret.

The server key is the JWT signing key (``CONVEYOR_JWT_SECRET``): changing it
changes every node's secret, so rotate all nodes' secrets after changing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def derive_node_secret(server_key: str, node_id: str, secret_version: int) -> str:
    message = f"node:{node_id}:{secret_version}".encode()
    digest = hmac.new(server_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
