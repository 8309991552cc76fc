"""The `ramen` commands, each module holding its commands' parsers beside their handlers."""
