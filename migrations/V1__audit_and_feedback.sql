-- V1: audit trail of hook / assessment-API calls, and CDS Hooks feedback.
-- Forward-only. Never edit this file once applied anywhere: refinery stores a checksum
-- of each applied migration and refuses to start when it changes. Add V2__... instead
-- (see docs/persistence.md).
--
-- Nothing here holds a request body, an access token, or a patient identifier:
-- patient_hash is a keyed HMAC-SHA256 (hex) computed by the service.

-- One row per hook call and per assessment-API call.
CREATE TABLE audit_event (
    id            BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    service_id    TEXT        NOT NULL,
    hook          TEXT        NOT NULL,
    hook_instance TEXT        NOT NULL,
    client_iss    TEXT,
    patient_hash  TEXT,
    kb_version    TEXT        NOT NULL,
    status        TEXT        NOT NULL,
    outcome_code  SMALLINT    NOT NULL,
    latency_us    BIGINT      NOT NULL CHECK (latency_us >= 0)
);
CREATE INDEX audit_event_at_idx ON audit_event (at);

-- Cards returned by that call (uuid, summary, kind).
CREATE TABLE audit_card (
    id        BIGSERIAL PRIMARY KEY,
    event_id  BIGINT NOT NULL REFERENCES audit_event (id) ON DELETE CASCADE,
    card_uuid TEXT   NOT NULL,
    summary   TEXT   NOT NULL,
    kind      TEXT   NOT NULL
);
CREATE INDEX audit_card_event_idx ON audit_card (event_id);
CREATE INDEX audit_card_uuid_idx ON audit_card (card_uuid);

-- Suggestions on those cards, with the recommendation code each one carries out.
CREATE TABLE audit_suggestion (
    card_id             BIGINT NOT NULL REFERENCES audit_card (id) ON DELETE CASCADE,
    suggestion_uuid     TEXT   NOT NULL,
    recommendation_code TEXT   NOT NULL
);
CREATE INDEX audit_suggestion_card_idx ON audit_suggestion (card_id);

-- One row per distinct feedback entry (POST /cds-services/{id}/feedback).
-- card_kind / card_codes / accepted_codes are resolved from the audit tables when the
-- feedback is written, so the analytics survive the audit retention purge.
CREATE TABLE feedback (
    id                     BIGSERIAL PRIMARY KEY,
    received_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    dedup_key              TEXT        NOT NULL UNIQUE,
    service_id             TEXT        NOT NULL,
    card_uuid              TEXT        NOT NULL,
    outcome                TEXT        NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    accepted_suggestions   TEXT[]      NOT NULL DEFAULT '{}',
    override_reason_system TEXT,
    override_reason_code   TEXT,
    override_comment       TEXT,
    outcome_timestamp      TIMESTAMPTZ NOT NULL,
    client_iss             TEXT,
    matched                BOOLEAN     NOT NULL,
    card_kind              TEXT,
    card_codes             TEXT[]      NOT NULL DEFAULT '{}',
    accepted_codes         TEXT[]      NOT NULL DEFAULT '{}'
);
CREATE INDEX feedback_outcome_timestamp_idx ON feedback (outcome_timestamp);
CREATE INDEX feedback_received_at_idx ON feedback (received_at);
