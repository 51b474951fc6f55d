"""The Lighter protocol over the sim's engine, as the unmodified lighter-sdk expects it (lighter-api.md)."""
