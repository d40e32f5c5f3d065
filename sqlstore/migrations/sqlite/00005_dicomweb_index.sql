-- +goose Up
-- The DICOMweb index: one row per image set (its series) and one per SOP
-- instance, replaced at every commit of a new image set version, so that
-- QIDO-RS and WADO-RS never read metadata documents to find an instance.
CREATE TABLE dicomweb_series (
    image_set_id TEXT PRIMARY KEY,
    datastore_id TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    patient_id TEXT NOT NULL DEFAULT '',
    patient_name TEXT NOT NULL DEFAULT '',
    patient_birth_date TEXT NOT NULL DEFAULT '',
    patient_birth_time TEXT NOT NULL DEFAULT '',
    patient_sex TEXT NOT NULL DEFAULT '',
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    accession TEXT NOT NULL DEFAULT '',
    referring_physician TEXT NOT NULL DEFAULT '',
    study_description TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT '',
    modality TEXT NOT NULL DEFAULT '',
    series_description TEXT NOT NULL DEFAULT '',
    pps_start_date TEXT NOT NULL DEFAULT '',
    pps_start_time TEXT NOT NULL DEFAULT '',
    series_number BIGINT,
    instance_count BIGINT NOT NULL DEFAULT 0,
    levels TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX dicomweb_series_study ON dicomweb_series (datastore_id, study_uid);
CREATE INDEX dicomweb_series_series ON dicomweb_series (datastore_id, series_uid);
CREATE INDEX dicomweb_series_patient_id ON dicomweb_series (datastore_id, patient_id);
CREATE INDEX dicomweb_series_patient_name ON dicomweb_series (datastore_id, patient_name);
CREATE INDEX dicomweb_series_study_date ON dicomweb_series (datastore_id, study_date);
CREATE INDEX dicomweb_series_accession ON dicomweb_series (datastore_id, accession);
CREATE INDEX dicomweb_series_modality ON dicomweb_series (datastore_id, modality);

CREATE TABLE dicomweb_instances (
    image_set_id TEXT NOT NULL,
    datastore_id TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL DEFAULT '',
    instance_number BIGINT,
    rows_ BIGINT NOT NULL DEFAULT 0,
    columns_ BIGINT NOT NULL DEFAULT 0,
    bits_allocated BIGINT NOT NULL DEFAULT 0,
    number_of_frames BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (image_set_id, sop_uid)
);
CREATE INDEX dicomweb_instances_sop ON dicomweb_instances (datastore_id, sop_uid);
CREATE INDEX dicomweb_instances_number ON dicomweb_instances (datastore_id, instance_number, sop_uid);

-- The stored header of every instance an image set ever held (kept across
-- versions so that a revert finds the headers of instances it restores).
CREATE TABLE dicomweb_headers (
    image_set_id TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    header_id TEXT NOT NULL,
    PRIMARY KEY (image_set_id, sop_uid)
);

-- +goose Down
DROP TABLE dicomweb_headers;
DROP TABLE dicomweb_instances;
DROP TABLE dicomweb_series;
