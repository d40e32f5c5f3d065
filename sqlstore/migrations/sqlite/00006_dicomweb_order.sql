-- +goose Up
-- QIDO-RS orders series by Series Number, walking this index.
CREATE INDEX dicomweb_series_number ON dicomweb_series (datastore_id, series_number, series_uid);

-- +goose Down
DROP INDEX dicomweb_series_number;
