"""ailoop: a git-native pipeline for customer AI priorities."""

__version__ = "0.1.0"
