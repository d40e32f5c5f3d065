-- +goose Up
CREATE TABLE import_tasks (
    job_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    keys TEXT NOT NULL,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner TEXT,
    lease_until BIGINT,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX import_tasks_pending ON import_tasks (done, lease_until);

-- +goose Down
DROP TABLE import_tasks;
