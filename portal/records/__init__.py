"""Records management beside the audit trail: exports for regulators (``export``)."""
