"""The outside world (database, Redis, mail, storage), each behind a small interface."""
