-- +goose Up
-- QIDO-RS orders series by Series Number and instances by Instance Number,
-- missing numbers first (SQLite's order of NULLs), walking these indexes.
CREATE INDEX dicomweb_instances_number_nf ON dicomweb_instances (datastore_id, instance_number NULLS FIRST, sop_uid);
CREATE INDEX dicomweb_series_number ON dicomweb_series (datastore_id, series_number NULLS FIRST, series_uid);

-- +goose Down
DROP INDEX dicomweb_series_number;
DROP INDEX dicomweb_instances_number_nf;
