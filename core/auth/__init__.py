"""Identity: password hashes, signed tokens, login, refresh and revocation."""
