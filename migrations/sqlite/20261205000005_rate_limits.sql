-- Counters for the visitor routes' abuse limits, shared by every node: one row
-- per key (an address, a session, a bot) and fixed window, which starts at the
-- first hit and ends at `expires_at`; housekeeping deletes ended windows.
CREATE TABLE rate_limits (
    key          TEXT   PRIMARY KEY,
    hits         BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX rate_limits_expires ON rate_limits (expires_at);
