"""The lessons memory: storage, ranking and automatic capture."""
