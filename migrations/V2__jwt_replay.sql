-- V2: JWT replay protection. One row per (issuer, jti) of an accepted client JWT, kept until the
-- token has expired (exp + clock skew); the service deletes expired rows. Forward-only: never edit
-- once applied (see docs/persistence.md). Holds no token, only its issuer and id.
CREATE TABLE jwt_replay (
    iss        TEXT        NOT NULL,
    jti        TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX jwt_replay_expires_at_idx ON jwt_replay (expires_at);
