"""Configuration: the OmegaConf resolvers the YAML files use and the type checks of
values that no constructor checks."""
