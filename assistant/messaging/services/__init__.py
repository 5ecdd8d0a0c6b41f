"""Writes of the secure message center: validate, check the policy, change rows, audit,
enqueue on commit (drafts by the assistant, e-mail notifications)."""
