"""Configuration: YAML loading, schema and cross-field checks."""
