"""Secrets and tokens: argon2id hashing, JWTs, request signatures."""
