"""Notifications: what people hear about each state change, sent at least once after the
change has been pushed, and recorded in git (git notes) so a rerun sends nothing twice."""
