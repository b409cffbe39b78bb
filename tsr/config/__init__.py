"""Configuration machinery below every other package: the typed schema (`schema`: settings
classes, their messages, their defaults for Hydra), the OmegaConf resolvers the YAML files
use, device names, and composing conf/ (`composition`: where it is, a misspelt key said
with the keys beside it)."""
