"""Trust: the bot's signing key and whether status.yaml was written by the bot."""
