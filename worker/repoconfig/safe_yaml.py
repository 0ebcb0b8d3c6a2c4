"""The project's safe YAML reading, for the configuration file (one import site to move).

The checks live with the catalog-file parser (`worker.sync.catalog`): no anchors or aliases,
one document, bounded depth, UTF-8 with line and column in every error. This adapter composes
the node tree (marks included, nothing constructed) behind those same checks.
"""

from __future__ import annotations

import yaml

from worker.sync.catalog import (
    _YAML_LOADER,
    _check_yaml_events,
    _decode,
    _Invalid,
    _yaml_error,
)


class YamlError(Exception):
    """The bytes are not safe, well-formed YAML; the message says where."""


def compose(data: bytes) -> yaml.Node | None:
    """The document's node tree (None for an empty file); `YamlError` says what is wrong."""
    try:
        text = _decode(data)
        try:
            _check_yaml_events(text, 0)
            return yaml.compose(text, Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, text, 0) from None
    except _Invalid as exc:
        raise YamlError(str(exc)) from None
    except RecursionError:
        raise YamlError("nests too deeply") from None
