package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openhealthimaging/ohi"
)

// budgetStore serves the same metadata file under every key and counts the
// opens.
type budgetStore struct {
	ohi.BlobStore // only Open is called
	file          []byte
	opens         atomic.Int64
}

type budgetObject struct{ *bytes.Reader }

func (budgetObject) Close() error { return nil }

func (o budgetObject) Size() int64 { return o.Reader.Size() }

func (s *budgetStore) Open(_ context.Context, key string) (ohi.Object, error) {
	s.opens.Add(1)
	return budgetObject{bytes.NewReader(s.file)}, nil
}

func (s *budgetStore) Bucket(string) (ohi.BlobStore, error) { return s, nil }

// TestMetadataBudgetStopsReading maps 80 studies to 80 distinct metadata
// files of almost MaxMetadataFileBytes each: once the job's
// MaxMetadataBytes are spent, the remaining mappings fail for the budget
// and their files are not read at all.
func TestMetadataBudgetStopsReading(t *testing.T) {
	text := strings.Repeat("x", MaxMetadataFileBytes-100)
	file := []byte(`{"00091010": {"vr": "UT", "Value": ["` + text + `"]}}`)
	st := &budgetStore{file: file}
	var mappings []map[string]string
	const n = 80
	for i := range n {
		mappings = append(mappings, map[string]string{"studyInstanceUID": fmt.Sprintf("1.2.%d", i), "metadataFilePath": fmt.Sprintf("m%d.json", i)})
	}
	cfg, _ := json.Marshal(map[string]any{"dicomJsonMetadataImportConfiguration": map[string]any{"dicomMetadataMappings": mappings}})
	job := &ohi.ImportJob{InputS3URI: "s3://input/p/", ImportConfiguration: string(cfg)}
	im := &Importer{Buckets: st}
	jm, err := im.loadMappings(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	fit := int(MaxMetadataBytes / int64(len(file)))
	for i, m := range jm.list {
		over := strings.Contains(m.problem, "total more than")
		if (i < fit) == over || (i < fit && m.override == nil) {
			t.Errorf("mapping %d: problem %q", i, m.problem)
		}
	}
	if got := st.opens.Load(); got != int64(fit+1) {
		t.Errorf("%d metadata files opened, want %d (those within the budget and the one that exceeds it)", got, fit+1)
	}
}
