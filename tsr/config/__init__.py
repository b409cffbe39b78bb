"""Configuration machinery below every other package: the typed schema (`schema`: settings
classes, their messages, their defaults for Hydra), the OmegaConf resolvers the YAML files
use, and device names."""
