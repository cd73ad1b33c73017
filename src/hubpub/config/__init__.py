"""The config file. This package re-exports its model (``config.model``) only; loading it is
``config.load`` (``load_config``), imported from there: loading needs the tag templates' checks,
which need the model, so the package cannot import the loader without a cycle."""

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
]
