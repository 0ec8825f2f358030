"""Findings → CDS Hooks cards. Pure: no Flask, no HTTP."""
