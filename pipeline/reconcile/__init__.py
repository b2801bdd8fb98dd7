"""The reconciler: read state, plan (pure), apply (files, commits, pushes), flags."""
