"""Policies as code: repo rules written in CEL, built-in guardrails, waivers, policy tests.

    expr        the CEL adapter (the only importer of `cel`)
    paths       field paths ('spec.rollout.stages[1].approvals') <-> locations
    rules       plain data: Subject (a document and its customer), Env, Violation
    compiler    policies/*.yaml -> PolicySet (rules compiled once per run) + findings
    guardrails  the built-in rules a repo cannot switch off (only waive)
    engine      evaluate(subject, env, policy_set) -> violations (pure)
    waivers     kind: Waiver -> the waivers in force, and findings about the rest
    repo        the validate hook: reads the repo, evaluates, positions the findings
    testing     `ailoop policy test`;  explain: `ailoop policy explain RULE-ID`
    governance  which changed files are governance files, and who may approve them
"""
