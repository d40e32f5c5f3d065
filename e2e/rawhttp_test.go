package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openhealthimaging/ohi/synth"
)

// rawClient sends hand-built requests signed with SigV4, the way AWS's
// HealthImaging viewer sample (aws-healthimaging-samples, imaging-viewer-ui)
// calls the API without an SDK: GETs as presigned URLs, other verbs with an
// Authorization header over a JSON body, query parameters next to the body.
type rawClient struct {
	t        *testing.T
	endpoint string
	signer   *v4.Signer
	creds    aws.Credentials
}

// do signs and sends one request and returns the status and body.
func (c *rawClient) do(method, path string, body any, presign bool) (int, http.Header, []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, bytes.NewReader(payload))
	if err != nil {
		c.t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	if presign {
		signed, _, err := c.signer.PresignHTTP(ctx, c.creds, req, hash, "medical-imaging", "us-east-1", time.Now())
		if err != nil {
			c.t.Fatal(err)
		}
		if req, err = http.NewRequestWithContext(ctx, method, signed, nil); err != nil {
			c.t.Fatal(err)
		}
	} else {
		req.Header.Set("Content-Type", "application/json")
		if err := c.signer.SignHTTP(ctx, c.creds, req, hash, "medical-imaging", "us-east-1", time.Now()); err != nil {
			c.t.Fatal(err)
		}
	}
	// Asked for explicitly, gzip is handed back as sent (the metadata).
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// json sends a request that must answer 200 with JSON, decoded into v.
func (c *rawClient) json(method, path string, body any, presign bool, v any) {
	c.t.Helper()
	status, _, b := c.do(method, path, body, presign)
	if status != http.StatusOK {
		c.t.Fatalf("%s %s: HTTP %d: %s", method, path, status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s: %v: %.300s", method, path, err, b)
		}
	}
}

// TestRawSignedRequests drives ohi the way AWS's viewer sample does: its
// presigned GETs (ListDatastores, ListDICOMImportJobs, ListTagsForResource),
// its POSTs whose query parameters are repeated in the JSON body
// (GetImageSet and GetImageSetMetadata with ?version=, GetImageFrame with
// ?imageFrameId=), SearchImageSets paged with maxResults and nextToken in the
// query, TagResource, and UntagResource as a DELETE with repeated tagKeys.
func TestRawSignedRequests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "raw"), synth.Config{Series: 2, Instances: 1, Rows: 16, Cols: 16, Seed: 53})
	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs})
	c := newClient(srv.Endpoint, testAK, testSecret)
	raw := &rawClient{t: t, endpoint: srv.Endpoint, signer: v4.NewSigner(),
		creds: aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}}

	var stores struct {
		DatastoreSummaries []struct{ DatastoreID string } `json:"datastoreSummaries"`
	}
	raw.json("GET", "/datastore", nil, true, &stores)
	if stores.DatastoreSummaries == nil || len(stores.DatastoreSummaries) != 0 {
		t.Errorf("presigned ListDatastores on an empty server: %+v", stores)
	}
	ds := createDatastore(t, c, "raw")
	job := startImport(t, c, ds, "s3://dicom-in/raw/", "s3://dicom-out/raw/")
	wantCompleted(t, waitJob(t, c, ds, job, 60*time.Second), "s3://dicom-out/raw/", ds)

	raw.json("GET", "/datastore", nil, true, &stores)
	if len(stores.DatastoreSummaries) != 1 || stores.DatastoreSummaries[0].DatastoreID != ds {
		t.Errorf("presigned ListDatastores: %+v", stores)
	}
	var jobs struct {
		JobSummaries []struct{ JobID string } `json:"jobSummaries"`
	}
	raw.json("GET", "/listDICOMImportJobs/datastore/"+ds, nil, true, &jobs)
	if len(jobs.JobSummaries) != 1 || jobs.JobSummaries[0].JobID != job {
		t.Errorf("presigned ListDICOMImportJobs: %+v", jobs)
	}

	// SearchImageSets, one per page, the page token in the query string.
	var ids []string
	next := ""
	for page := 0; page < 5; page++ {
		q := "?maxResults=1"
		if next != "" {
			q += "&nextToken=" + url.QueryEscape(next)
		}
		var res struct {
			ImageSetsMetadataSummaries []struct{ ImageSetID string } `json:"imageSetsMetadataSummaries"`
			NextToken                  string                        `json:"nextToken"`
		}
		raw.json("POST", "/datastore/"+ds+"/searchImageSets"+q, map[string]any{}, false, &res)
		for _, s := range res.ImageSetsMetadataSummaries {
			ids = append(ids, s.ImageSetID)
		}
		if next = res.NextToken; next == "" {
			break
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("paged search found %v, want the 2 image sets", ids)
	}
	is := ids[0]

	var set struct {
		ImageSetID  string `json:"imageSetId"`
		VersionID   string `json:"versionId"`
		ImageSetArn string `json:"imageSetArn"`
	}
	raw.json("POST", "/datastore/"+ds+"/imageSet/"+is+"/getImageSet?version=1", map[string]string{"version": "1"}, false, &set)
	if set.ImageSetID != is || set.VersionID != "1" || set.ImageSetArn == "" {
		t.Errorf("GetImageSet ?version=1: %+v", set)
	}
	var versions struct {
		ImageSetPropertiesList []struct{ VersionID string } `json:"imageSetPropertiesList"`
	}
	raw.json("POST", "/datastore/"+ds+"/imageSet/"+is+"/listImageSetVersions", map[string]any{}, false, &versions)
	if len(versions.ImageSetPropertiesList) != 1 || versions.ImageSetPropertiesList[0].VersionID != "1" {
		t.Errorf("ListImageSetVersions: %+v", versions)
	}

	status, hdr, gz := raw.do("POST", "/datastore/"+ds+"/imageSet/"+is+"/getImageSetMetadata?version=1", map[string]string{"version": "1"}, false)
	if status != http.StatusOK || hdr.Get("Content-Encoding") != "gzip" {
		t.Fatalf("GetImageSetMetadata ?version=1: HTTP %d, Content-Encoding %q", status, hdr.Get("Content-Encoding"))
	}
	plain, err := gunzip(gz)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	var doc metadataDoc
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatal(err)
	}
	var frameID string
	for _, s := range doc.Study.Series {
		for _, inst := range s.Instances {
			frameID = inst.ImageFrames[0].ID
		}
	}
	status, hdr, frame := raw.do("POST", "/datastore/"+ds+"/imageSet/"+is+"/getImageFrame?imageFrameId="+frameID,
		map[string]string{"imageFrameId": frameID}, false)
	if status != http.StatusOK || hdr.Get("Content-Type") != "image/jph" || !bytes.Equal(frame, getFrame(t, c, ds, is, frameID)) {
		t.Errorf("GetImageFrame ?imageFrameId=: HTTP %d, %s, %d bytes", status, hdr.Get("Content-Type"), len(frame))
	}

	// Tags: POST, presigned GET, DELETE with repeated tagKeys and a {} body.
	arn := "/tags/" + url.PathEscape(set.ImageSetArn)
	raw.json("POST", arn, map[string]any{"tags": map[string]string{"a": "1", "b": "2", "c": "3"}}, false, nil)
	if status, _, b := raw.do("DELETE", arn+"?tagKeys=a&tagKeys=b", map[string]any{}, false); status/100 != 2 {
		t.Fatalf("UntagResource: HTTP %d: %s", status, b)
	}
	var tags struct {
		Tags map[string]string `json:"tags"`
	}
	raw.json("GET", arn, nil, true, &tags)
	if len(tags.Tags) != 1 || tags.Tags["c"] != "3" {
		t.Errorf("tags after untagging a and b: %v", tags.Tags)
	}
	if !strings.HasSuffix(set.ImageSetArn, "/imageset/"+is) {
		t.Errorf("imageSetArn %s", set.ImageSetArn)
	}
}
