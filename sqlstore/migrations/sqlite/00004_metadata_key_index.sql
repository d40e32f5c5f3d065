-- +goose Up
CREATE INDEX image_set_versions_metadata_key ON image_set_versions (metadata_key);

-- +goose Down
DROP INDEX image_set_versions_metadata_key;
