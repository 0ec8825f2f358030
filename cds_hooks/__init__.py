"""CDS Hooks 2.0.1 HTTP layer: discovery, hook endpoints, prefetch, feedback, auth."""
