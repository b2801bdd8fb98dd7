"""The scheduled operations review: health, cost and ROI against the hypothesis."""
