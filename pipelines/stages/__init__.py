"""The pipeline's stages: plain functions over typed records, wrapped by thin agents."""
