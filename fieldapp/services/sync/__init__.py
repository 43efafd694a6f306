"""Sync by files: record versions, bundles, merge (see ARCHITECTURE.md, "the contract")."""
