package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openhealthimaging/ohi/codec"
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
	writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "raw"), synth.Config{Series: 2, Instances: 1, Rows: 160, Cols: 128, Seed: 53})
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
	var doc struct {
		Study struct {
			Series map[string]struct {
				Instances map[string]struct {
					ImageFrames []struct {
						ID                                        string
						PixelDataChecksumFromBaseToFullResolution []struct {
							Width, Height int
							Checksum      uint32
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatal(err)
	}
	var frameID string
	var sums []struct {
		Width, Height int
		Checksum      uint32
	}
	for _, s := range doc.Study.Series {
		for _, inst := range s.Instances {
			frameID, sums = inst.ImageFrames[0].ID, inst.ImageFrames[0].PixelDataChecksumFromBaseToFullResolution
		}
	}
	status, hdr, frame := raw.do("POST", "/datastore/"+ds+"/imageSet/"+is+"/getImageFrame?imageFrameId="+frameID,
		map[string]string{"imageFrameId": frameID}, false)
	if status != http.StatusOK || hdr.Get("Content-Type") != "image/jph" || !bytes.Equal(frame, getFrame(t, c, ds, is, frameID)) {
		t.Errorf("GetImageFrame ?imageFrameId=: HTTP %d, %s, %d bytes", status, hdr.Get("Content-Type"), len(frame))
	}
	checkTLMLevels(t, frame, sums)

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

// checkTLMLevels cuts frame the way AWS's tile-level-marker proxy sample
// does, at the tile-part lengths its TLM marker segment lists (one
// tile-part per resolution level), and requires the first k tile-parts to
// decode to resolution level k, whose CRC-32 is the metadata's k-th
// checksum (PixelDataChecksumFromBaseToFullResolution).
func checkTLMLevels(t *testing.T, frame []byte, sums []struct {
	Width, Height int
	Checksum      uint32
}) {
	t.Helper()
	if len(frame) < 4 || frame[0] != 0xFF || frame[1] != 0x4F {
		t.Fatalf("frame does not start with SOC")
	}
	var lengths []int
	pos := 2
	for {
		if pos+4 > len(frame) || frame[pos] != 0xFF {
			t.Fatalf("main header is malformed at byte %d", pos)
		}
		marker := frame[pos+1]
		if marker == 0x90 { // SOT: the main header ends
			break
		}
		seg := int(frame[pos+2])<<8 | int(frame[pos+3])
		if seg < 2 || pos+2+seg > len(frame) {
			t.Fatalf("marker FF%02X has length %d", marker, seg)
		}
		if marker == 0x55 { // TLM: Ztlm, Stlm, then (Ttlm, Ptlm) pairs
			body := frame[pos+4 : pos+2+seg]
			st, sp := int(body[1]>>4&3), 2+2*int(body[1]>>6&1)
			for e := 2; e+st+sp <= len(body); e += st + sp {
				n := 0
				for _, b := range body[e+st : e+st+sp] {
					n = n<<8 | int(b)
				}
				lengths = append(lengths, n)
			}
		}
		pos += 2 + seg
	}
	if len(lengths) < 2 || len(lengths) != len(sums) {
		t.Fatalf("TLM lists %d tile-parts, the metadata %d resolution levels; want one tile-part per level, at least 2", len(lengths), len(sums))
	}
	end := pos
	for k, n := range lengths {
		end += n
		if end > len(frame) {
			t.Fatalf("tile-part %d ends at byte %d of a %d byte frame", k, end, len(frame))
		}
		cut := append(append([]byte(nil), frame[:end]...), 0xFF, 0xD9)
		px, err := codec.DecodeHTJ2K(cut, len(lengths)-1-k)
		if err != nil {
			t.Fatalf("the first %d tile-parts: %v", k+1, err)
		}
		if px.Width != sums[k].Width || px.Height != sums[k].Height || crc32.ChecksumIEEE(px.Data) != sums[k].Checksum {
			t.Errorf("the first %d tile-parts decode to %dx%d (CRC-32 %08x); the metadata's level %d is %+v",
				k+1, px.Width, px.Height, crc32.ChecksumIEEE(px.Data), k, sums[k])
		}
	}
	t.Logf("%d tile-parts, one per resolution level, each prefix matching its checksum", len(lengths))
	if end+2 != len(frame) {
		t.Errorf("the tile-parts end at byte %d, the frame (EOC included) at %d", end+2, len(frame))
	}
}
