"""Market data: venue websockets -> local books and account state -> watches -> signals (DESIGN §5)."""
