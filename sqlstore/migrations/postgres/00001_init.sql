-- +goose Up
CREATE TABLE datastores (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    kms_key_arn TEXT NOT NULL DEFAULT '',
    lambda_authorizer_arn TEXT NOT NULL DEFAULT '',
    lossless_format TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    client_token TEXT NOT NULL,
    request_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX datastores_client_token ON datastores (client_token);
CREATE INDEX datastores_created ON datastores (created_at, id);

CREATE TABLE tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);

CREATE TABLE import_jobs (
    id TEXT PRIMARY KEY,
    datastore_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    input_uri TEXT NOT NULL,
    output_uri TEXT NOT NULL,
    input_owner TEXT NOT NULL DEFAULT '',
    import_config TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    submitted_at BIGINT NOT NULL,
    ended_at BIGINT,
    client_token TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE UNIQUE INDEX import_jobs_client_token ON import_jobs (datastore_id, client_token);
CREATE INDEX import_jobs_list ON import_jobs (datastore_id, submitted_at, id);
CREATE INDEX import_jobs_pending ON import_jobs (status, submitted_at);

CREATE TABLE import_items (
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    result BYTEA NOT NULL,
    image_set_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, key)
);

CREATE TABLE image_sets (
    id TEXT PRIMARY KEY,
    datastore_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    workflow_status TEXT NOT NULL,
    is_primary BOOLEAN NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    patient_id TEXT NOT NULL DEFAULT '',
    patient_name TEXT NOT NULL DEFAULT '',
    patient_birth_date TEXT NOT NULL DEFAULT '',
    patient_sex TEXT NOT NULL DEFAULT '',
    study_uid TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT '',
    study_description TEXT NOT NULL DEFAULT '',
    accession TEXT NOT NULL DEFAULT '',
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    study_datetime TEXT NOT NULL DEFAULT '',
    series_uid TEXT NOT NULL DEFAULT '',
    modality TEXT NOT NULL DEFAULT '',
    body_part TEXT NOT NULL DEFAULT '',
    series_number BIGINT,
    instance_count BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX image_sets_primary_series ON image_sets (datastore_id, series_uid) WHERE is_primary AND state <> 'DELETED';
CREATE INDEX image_sets_updated ON image_sets (datastore_id, updated_at, id);
CREATE INDEX image_sets_created ON image_sets (datastore_id, created_at, id);
CREATE INDEX image_sets_study_datetime ON image_sets (datastore_id, study_datetime, id);
CREATE INDEX image_sets_patient ON image_sets (datastore_id, patient_id, updated_at, id);
CREATE INDEX image_sets_accession ON image_sets (datastore_id, accession, updated_at, id);
CREATE INDEX image_sets_study_id ON image_sets (datastore_id, study_id, updated_at, id);
CREATE INDEX image_sets_study_uid ON image_sets (datastore_id, study_uid, updated_at, id);
CREATE INDEX image_sets_series_uid ON image_sets (datastore_id, series_uid, updated_at, id);

CREATE TABLE image_set_versions (
    image_set_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    workflow_status TEXT NOT NULL,
    is_primary BOOLEAN NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    forced BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    metadata_key TEXT NOT NULL,
    PRIMARY KEY (image_set_id, version)
);

CREATE TABLE frames (
    id TEXT PRIMARY KEY,
    blob_key TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL,
    size BIGINT NOT NULL
);

CREATE TABLE image_set_frames (
    image_set_id TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    PRIMARY KEY (image_set_id, frame_id)
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE image_set_frames;
DROP TABLE frames;
DROP TABLE image_set_versions;
DROP TABLE image_sets;
DROP TABLE import_items;
DROP TABLE import_jobs;
DROP TABLE tags;
DROP TABLE datastores;
