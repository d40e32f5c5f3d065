-- +goose Up
CREATE TABLE image_set_pending (
    image_set_id TEXT PRIMARY KEY,
    datastore_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    workflow_status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    update_version BOOLEAN NOT NULL,
    due_at BIGINT NOT NULL
);
CREATE INDEX image_set_pending_due ON image_set_pending (due_at);
CREATE INDEX image_set_frames_frame ON image_set_frames (frame_id);

-- +goose Down
DROP INDEX image_set_frames_frame;
DROP TABLE image_set_pending;
