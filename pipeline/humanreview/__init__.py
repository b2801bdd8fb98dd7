"""Human review of sampled outputs as a rollout gate: `ailoop sample` draws the outputs
(sample.py), people label them, the labels count when the stage's role wrote them
(labels.py), the planner judges agreement (verdict.py), and labelled cases can feed the
judge's calibration set (calibration.py)."""
