"""The project's safe YAML reading, for the configuration file.

The checks live with the catalog-file parser (`worker.sync.safe_yaml`): no anchors or aliases,
one document, bounded depth, UTF-8 with line and column in every error. This adapter turns its
error into the configuration's own.
"""

from __future__ import annotations

import yaml

from worker.sync.safe_yaml import InvalidFileError, compose_yaml


class YamlError(Exception):
    """The bytes are not safe, well-formed YAML; the message says where."""


def compose(data: bytes) -> yaml.Node | None:
    """The document's node tree (None for an empty file); `YamlError` says what is wrong."""
    try:
        return compose_yaml(data)
    except InvalidFileError as exc:
        raise YamlError(str(exc)) from None
    except RecursionError:
        raise YamlError("nests too deeply") from None
