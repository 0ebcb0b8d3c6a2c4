"""Turning a catalog tree (a folder or a GitHub tree) into catalog items."""
