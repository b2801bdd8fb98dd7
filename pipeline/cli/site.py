"""`ailoop site`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import now_option, parse_now
from pipeline.errors import EXIT_OK


@click.command("site")
@click.option("--out", "out", type=click.Path(file_okay=False), default="site",
              show_default=True, help="Folder to write the dashboard into (replaced whole).")
@now_option
@click.pass_context
def site_command(ctx: click.Context, out: str, now: str | None) -> int:
    """Build the static dashboard: every customer's priorities with stage, traffic share,
    health, terminal state, next check, ROI and last dry run, and a history page per
    priority. Self-contained HTML: open index.html from disk or publish on GitHub Pages."""
    import os
    from dataclasses import replace

    from pipeline.documents.layout import priority_keys
    from pipeline.publish.picture import pictures
    from pipeline.publish.publisher import project_time_zone
    from pipeline.publish.site import build_site
    from pipeline.publish.snapshot import take_snapshot

    root = repo_root(ctx)
    moment = parse_now(now)
    seen = pictures(root, moment)  # the same decisions and readings as `ailoop plan`
    views = [take_snapshot(root, key) for key in priority_keys(root)]
    views = [replace(v, decision=seen[v.key].decision, monitored=seen[v.key].health)
             if v.key in seen else v for v in views]
    target = out if os.path.isabs(out) else os.path.join(root, out)
    files = build_site(views, target, moment, project_time_zone(root))
    click.echo(f"wrote {len(files)} pages to {target}/ (open {target}/index.html)")
    return EXIT_OK
