"""Who is asking: lprx's own accounts (argon2id passwords, a required TOTP second
factor, lockout, session limits, disabling unused accounts), service keys, and the seam
for an agency's OpenID Connect provider. The API and the web console both authenticate
through ``Authenticator`` (``pipelines/identity/auth.py``)."""
