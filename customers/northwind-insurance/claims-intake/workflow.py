def triage(case): return {}
