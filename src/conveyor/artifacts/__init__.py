"""Artifact bytes: a small storage interface and its local-disk implementation."""

from conveyor.artifacts.storage import ArtifactStorage, LocalArtifactStorage, StoredBlob

__all__ = ["ArtifactStorage", "LocalArtifactStorage", "StoredBlob"]
