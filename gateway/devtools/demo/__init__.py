"""`gateway demo`: the parts it starts and stops in order (parts) and what the user sees
while it runs (view)."""
