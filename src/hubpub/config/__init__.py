"""The config file: its model (``config.model``) and its loading (``config.load``)."""

from hubpub.config.load import load_config, parse_config
from hubpub.config.model import (
    Config,
    ConfigFile,
    EdgePreset,
    Image,
    ImageDefaults,
    Pep440Preset,
    RefPreset,
    RegistryConfig,
    Rule,
    SemverPreset,
    ShaPreset,
    TemplateRule,
    json_schema,
)

__all__ = [
    "Config",
    "ConfigFile",
    "EdgePreset",
    "Image",
    "ImageDefaults",
    "Pep440Preset",
    "RefPreset",
    "RegistryConfig",
    "Rule",
    "SemverPreset",
    "ShaPreset",
    "TemplateRule",
    "json_schema",
    "load_config",
    "parse_config",
]
