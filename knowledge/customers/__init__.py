"""Customer records: customers, their accounts, transactions and cases (encrypted, masked)."""
