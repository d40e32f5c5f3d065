package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/synth"
)

// dw sends DICOMweb requests signed with aws-sdk-go-v2's SigV4 signer
// (service medical-imaging), as AWS's DICOMweb clients do.
type dw struct {
	t    *testing.T
	base string
	ak   string
}

func (ts *testServer) dicomweb() *dw { return &dw{t: ts.t, base: ts.srv.URL, ak: testAK} }

func (d *dw) do(method, path string, hdr map[string]string, body []byte) *http.Response {
	d.t.Helper()
	req, err := http.NewRequest(method, d.base+path, bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if d.ak != "" {
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: d.ak, SecretAccessKey: testSecret},
			req, hex.EncodeToString(sum[:]), "medical-imaging", "us-east-1", time.Now())
		if err != nil {
			d.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	return resp
}

// get returns the status and body of a signed GET.
func (d *dw) get(path, accept string) (int, http.Header, []byte) {
	d.t.Helper()
	hdr := map[string]string{}
	if accept != "" {
		hdr["Accept"] = accept
	}
	resp := d.do("GET", path, hdr, nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// json GETs a DICOM JSON array.
func (d *dw) json(path string) []map[string]struct {
	VR    string
	Value []any
} {
	d.t.Helper()
	code, _, b := d.get(path, "application/dicom+json")
	if code != 200 {
		d.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	var out []map[string]struct {
		VR    string
		Value []any
	}
	if err := json.Unmarshal(b, &out); err != nil {
		d.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return out
}

// parts reads a multipart/related answer.
func parts(t *testing.T, h http.Header, body []byte) [][]byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("Content-Type %q is not multipart/related", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		out = append(out, b)
	}
}

func str(v []any) string {
	if len(v) == 0 {
		return ""
	}
	if m, ok := v[0].(map[string]any); ok {
		return fmt.Sprint(m["Alphabetic"])
	}
	return fmt.Sprint(v[0])
}

// attrs merges an instance's levels for comparisons, without the file
// meta group (which a retrieve writes anew).
func attrs(t *testing.T, b []byte) (map[string]any, *dicom.Instance) {
	t.Helper()
	in, err := dicom.Read(bytes.NewReader(b), int64(len(b)), dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	for _, l := range []map[string]any{in.Patient, in.Study, in.Series, in.Instance} {
		for k, v := range l {
			m[k] = v
		}
	}
	for _, k := range []string{"FileMetaInformationGroupLength", "FileMetaInformationVersion", "MediaStorageSOPClassUID",
		"MediaStorageSOPInstanceUID", "TransferSyntaxUID", "ImplementationClassUID", "ImplementationVersionName", "SourceApplicationEntityTitle"} {
		delete(m, k)
	}
	return m, in
}

func framePixels(t *testing.T, b []byte, in *dicom.Instance) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range in.Frames {
		px := make([]byte, f.Size())
		if _, err := io.ReadFull(f.Reader(bytes.NewReader(b)), px); err != nil {
			t.Fatal(err)
		}
		out = append(out, px)
	}
	return out
}

func TestDICOMweb(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	dsID := ts.createDatastore("dicomweb")
	in := ts.dataDir + "/buckets/dicom-in/dw"
	g := writeStudy(t, in, synth.Config{Studies: 1, Series: 2, Instances: 3, Rows: 32, Cols: 24, Seed: 11})
	if props := ts.importDir(dsID, "dicom-in", "dw/"); props.JobStatus != types.JobStatusCompleted {
		t.Fatalf("import %s", props.JobStatus)
	}
	d := ts.dicomweb()
	root := "/datastore/" + dsID
	study, s0, s1 := g.StudyUID(synth.Ref{}), g.SeriesUID(synth.Ref{}), g.SeriesUID(synth.Ref{Series: 1})

	// QIDO-RS.
	studies := d.json(root + "/studies")
	if len(studies) != 1 || str(studies[0]["0020000D"].Value) != study || str(studies[0]["00201206"].Value) != "2" ||
		str(studies[0]["00201208"].Value) != "6" || str(studies[0]["00080061"].Value) != "CT" {
		t.Fatalf("studies = %+v", studies)
	}
	pid := str(studies[0]["00100020"].Value)
	if got := d.json(root + "/studies?PatientID=" + pid); len(got) != 1 {
		t.Fatalf("PatientID match: %d studies", len(got))
	}
	if got := d.json(root + "/studies?PatientID=NOBODY"); len(got) != 0 {
		t.Fatalf("PatientID mismatch: %d studies", len(got))
	}
	if got := d.json(root + "/studies?PatientID=" + pid[:3] + "*"); len(got) != 1 {
		t.Fatalf("PatientID wildcard: %d studies", len(got))
	}
	if got := d.json(root + "/studies?StudyDate=19000101-29991231&ModalitiesInStudy=CT,MR"); len(got) != 1 {
		t.Fatalf("date range and modality list: %d studies", len(got))
	}
	name := str(studies[0]["00100010"].Value)
	first, _, _ := strings.Cut(name, "^")
	if got := d.json(root + "/studies?PatientName=" + strings.ToLower(first[:4]) + "&fuzzymatching=true"); len(got) != 1 {
		t.Fatalf("fuzzy PatientName %q: %d studies", strings.ToLower(first[:4]), len(got))
	}
	series := d.json(root + "/studies/" + study + "/series")
	if len(series) != 2 || str(series[0]["0020000E"].Value) != s0 || str(series[1]["0020000E"].Value) != s1 {
		t.Fatalf("series = %+v", series)
	}
	if got := d.json(root + "/series?SeriesInstanceUID=" + s1); len(got) != 1 || str(got[0]["00201209"].Value) != "3" {
		t.Fatalf("all-series by UID = %+v", got)
	}
	insts := d.json(root + "/studies/" + study + "/series/" + s0 + "/instances")
	if len(insts) != 3 {
		t.Fatalf("%d instances", len(insts))
	}
	for i, x := range insts {
		if str(x["00200013"].Value) != fmt.Sprint(i+1) {
			t.Fatalf("instance %d has InstanceNumber %v", i, x["00200013"].Value)
		}
	}
	if got := d.json(root + "/instances?limit=2&offset=1"); len(got) != 2 {
		t.Fatalf("limit/offset: %d instances", len(got))
	}
	if got := d.json(root + "/studies/" + study + "/instances?includefield=all"); len(got) != 6 || got[0]["00280030"].VR != "DS" {
		t.Fatalf("study instances with includefield=all: %d, PixelSpacing %+v", len(got), got[0]["00280030"])
	}
	for _, bad := range []string{"/studies?limit=1001", "/studies?Modality=CT", "/studies?NoSuchKeyword=1", "/studies?StudyDate=2020"} {
		if code, _, b := d.get(root+bad, ""); code != 400 {
			t.Fatalf("%s: %d %s, want 400", bad, code, b)
		}
	}

	// WADO-RS metadata agrees with GetImageSetMetadata.
	search, err := ts.client.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID})
	if err != nil {
		t.Fatal(err)
	}
	var isID string
	for _, s := range search.ImageSetsMetadataSummaries {
		if *s.DICOMTags.DICOMSeriesInstanceUID == s0 {
			isID = *s.ImageSetId
		}
	}
	doc := ts.metadata(dsID, isID, "")
	meta := d.json(root + "/studies/" + study + "/series/" + s0 + "/metadata")
	if len(meta) != 3 {
		t.Fatalf("series metadata has %d instances", len(meta))
	}
	sop := g.SOPInstanceUID(synth.Ref{})
	one := d.json(root + "/studies/" + study + "/series/" + s0 + "/instances/" + sop + "/metadata")
	if len(one) != 1 || str(one[0]["00080018"].Value) != sop || str(one[0]["00100020"].Value) != pid ||
		str(one[0]["00020010"].Value) != "1.2.840.10008.1.2.4.202" {
		t.Fatalf("instance metadata = %+v", one)
	}
	frameID := doc.Study.Series[s0].Instances[sop].ImageFrames[0].ID

	// Frames: the stored codestream is GetImageFrame's; uncompressed is the original pixels.
	gf, err := ts.client.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: &dsID, ImageSetId: &isID,
		ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &frameID}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(gf.ImageFrameBlob)
	framesPath := root + "/studies/" + study + "/series/" + s0 + "/instances/" + sop + "/frames/1"
	code, h, body := d.get(framesPath, `multipart/related; type="application/octet-stream"; transfer-syntax=*`)
	if code != 200 {
		t.Fatalf("frames: %d %s", code, body)
	}
	if p := parts(t, h, body); len(p) != 1 || !bytes.Equal(p[0], want) {
		t.Fatalf("stored frame differs from GetImageFrame")
	}
	orig, err := g.Instance(synth.Ref{})
	if err != nil {
		t.Fatal(err)
	}
	origAttrs, origInst := attrs(t, orig)
	origPixels := framePixels(t, orig, origInst)
	code, h, body = d.get(framesPath, "")
	if code != 200 {
		t.Fatalf("frames: %d %s", code, body)
	}
	if p := parts(t, h, body); len(p) != 1 || !bytes.Equal(p[0], origPixels[0]) {
		t.Fatalf("uncompressed frame differs from the original pixels")
	}
	if code, _, b := d.get(framesPath, `multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50`); code != 406 {
		t.Fatalf("JPEG frames: %d %s, want 406", code, b)
	}
	if code, _, _ := d.get(framesPath+",1", ""); code != 400 {
		t.Fatalf("duplicate frame: %d, want 400", code)
	}
	// Negotiation runs over every listed range, by q value: an
	// unproducible first choice falls back to the next one.
	code, h, body = d.get(framesPath, `multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50, multipart/related; type="application/octet-stream"; transfer-syntax=*; q=0.5`)
	if p := parts(t, h, body); code != 200 || len(p) != 1 || !bytes.Equal(p[0], want) {
		t.Fatalf("combined Accept: %d %s, want the stored frame", code, h.Get("Content-Type"))
	}
	code, h, body = d.get(framesPath, `multipart/related; type="application/octet-stream"; transfer-syntax=*; q=0.2, multipart/related; type="application/octet-stream"`)
	if p := parts(t, h, body); code != 200 || len(p) != 1 || !bytes.Equal(p[0], origPixels[0]) {
		t.Fatalf("q-ordered Accept: %d %s, want the uncompressed frame", code, h.Get("Content-Type"))
	}
	if code, _, b := d.get(framesPath, `multipart/related; type="application/octet-stream"; transfer-syntax=*; q=0, application/dicom+json`); code != 406 || !strings.Contains(string(b), "message") {
		t.Fatalf("refused Accept: %d %s, want 406 with a message", code, b)
	}

	// The instance: every original attribute, the original pixels.
	instPath := root + "/studies/" + study + "/series/" + s0 + "/instances/" + sop
	for _, accept := range []string{"", "application/dicom; transfer-syntax=*"} {
		code, h, body := d.get(instPath, accept)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/dicom") {
			t.Fatalf("instance (%q): %d %s %.200s", accept, code, h.Get("Content-Type"), body)
		}
		got, gotInst := attrs(t, body)
		for k, v := range origAttrs {
			if !sameJSON(v, got[k]) {
				t.Errorf("%q: %s = %v, want %v", accept, k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := origAttrs[k]; !ok {
				t.Errorf("%q: %s was added", accept, k)
			}
		}
		if accept == "" {
			if gotInst.TransferSyntaxUID != "1.2.840.10008.1.2.1" || !bytes.Equal(framePixels(t, body, gotInst)[0], origPixels[0]) {
				t.Fatalf("instance in %s: pixels differ", gotInst.TransferSyntaxUID)
			}
		} else if gotInst.TransferSyntaxUID != "1.2.840.10008.1.2.4.202" {
			t.Fatalf("stored syntax %s", gotInst.TransferSyntaxUID)
		}
	}

	// Signatures: unsigned and wrongly signed requests are refused.
	anon := &dw{t: t, base: ts.srv.URL}
	if code, _, _ := anon.get(root+"/studies", ""); code != 403 {
		t.Fatalf("unsigned: %d, want 403", code)
	}
	if code, _, b := d.get("/datastore/"+strings.Repeat("0", 32)+"/studies/"+study+"/series/"+s0+"/metadata", ""); code != 404 {
		t.Fatalf("unknown data store: %d %s", code, b)
	}

	// An update is what DICOMweb serves next.
	latest := "1"
	if _, err := ts.update(dsID, isID, latest, `{"SchemaVersion":1.1,"Study":{"DICOM":{"StudyDescription":"UPDATED BY TEST"}}}`, false, false, false); err != nil {
		t.Fatal(err)
	}
	ts.waitState(dsID, isID, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	one = d.json(root + "/studies/" + study + "/series/" + s0 + "/instances/" + sop + "/metadata")
	if str(one[0]["00081030"].Value) != "UPDATED BY TEST" {
		t.Fatalf("metadata after update: %v", one[0]["00081030"])
	}
	if got := d.json(root + "/studies?StudyDescription=UPDATED*"); len(got) != 1 {
		t.Fatalf("QIDO after update: %d studies", len(got))
	}
	_, _, body = d.get(instPath, "")
	got, _ := attrs(t, body)
	if strings.TrimSpace(fmt.Sprint(got["StudyDescription"])) != "UPDATED BY TEST" || got["PatientID"] != origAttrs["PatientID"] {
		t.Fatalf("instance after update: StudyDescription %v PatientID %v", got["StudyDescription"], got["PatientID"])
	}

	// STOW-RS: a new series through the importer's path; a study mismatch fails.
	g2, err := synth.New(synth.Config{Series: 1, Instances: 2, Rows: 16, Cols: 16, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for i := range 2 {
		b, err := g2.Instance(synth.Ref{Instance: i})
		if err != nil {
			t.Fatal(err)
		}
		pw, _ := mw.CreatePart(map[string][]string{"Content-Type": {"application/dicom"}})
		pw.Write(b)
	}
	mw.Close()
	ct := `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
	resp := d.do("POST", root+"/studies", map[string]string{"Content-Type": ct, "Accept": "application/dicom+json"}, mp.Bytes())
	sb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(sb), "00081199") {
		t.Fatalf("STOW: %d %s", resp.StatusCode, sb)
	}
	if got := d.json(root + "/studies/" + g2.StudyUID(synth.Ref{}) + "/series/" + g2.SeriesUID(synth.Ref{}) + "/instances"); len(got) != 2 {
		t.Fatalf("stored series has %d instances", len(got))
	}
	resp = d.do("POST", root+"/studies/"+study, map[string]string{"Content-Type": ct}, mp.Bytes())
	sb, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 409 || !strings.Contains(string(sb), "00081198") || !strings.Contains(string(sb), "43264") {
		t.Fatalf("STOW to another study: %d %s", resp.StatusCode, sb)
	}
	resp = d.do("POST", root+"/studies", map[string]string{"Content-Type": "application/json"}, []byte("{}"))
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("STOW of JSON: %d, want 415", resp.StatusCode)
	}

	// After DeleteImageSet the series is gone.
	if _, err := ts.client.DeleteImageSet(ctx, &mi.DeleteImageSetInput{DatastoreId: &dsID, ImageSetId: &isID}); err != nil {
		t.Fatal(err)
	}
	ts.waitState(dsID, isID, types.ImageSetStateDeleted, types.ImageSetWorkflowStatusDeleted)
	if got := d.json(root + "/studies/" + study + "/series"); len(got) != 1 {
		t.Fatalf("after delete: %d series", len(got))
	}
	if code, _, _ := d.get(instPath+"/metadata", ""); code != 404 {
		t.Fatalf("deleted instance: %d, want 404", code)
	}
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestDICOMwebFramesAndBulkdata stores a 3-frame instance and an
// encapsulated PDF over 1 MB with STOW-RS, then reads frames 3,1 (in that
// order, uncompressed and as stored) and the PDF through the BulkDataURI
// its metadata gives.
func TestDICOMwebFramesAndBulkdata(t *testing.T) {
	ts := startServer(t, t.TempDir())
	dsID := ts.createDatastore("dicomweb-frames")
	d := ts.dicomweb()
	root := "/datastore/" + dsID
	g, err := synth.New(synth.Config{Instances: 1, Frames: 3, Rows: 16, Cols: 12, Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	mf, err := g.Instance(synth.Ref{})
	if err != nil {
		t.Fatal(err)
	}
	pdf := bytes.Repeat([]byte("%PDF-1.4 ohi bulk data test "), 40000) // 1.12 MB
	study, series, sop := "1.2.826.0.1.3680043.10.1543.8.1", "1.2.826.0.1.3680043.10.1543.8.1.1", "1.2.826.0.1.3680043.10.1543.8.1.1.1"
	var doc bytes.Buffer
	if err := synth.WriteP10(&doc, synth.DataSet{
		{Tag: 0x00080016, VR: "UI", Value: "1.2.840.10008.5.1.4.1.1.104.1"}, {Tag: 0x00080018, VR: "UI", Value: sop},
		{Tag: 0x00080060, VR: "CS", Value: "DOC"}, {Tag: 0x00100020, VR: "LO", Value: "BULK1"},
		{Tag: 0x0020000D, VR: "UI", Value: study}, {Tag: 0x0020000E, VR: "UI", Value: series},
		{Tag: 0x00420011, VR: "OB", Value: pdf}, {Tag: 0x00420012, VR: "LO", Value: "application/pdf"},
	}, "1.2.840.10008.5.1.4.1.1.104.1", sop, "1.2.840.10008.1.2.1", false); err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{mf, doc.Bytes()} {
		resp := d.do("POST", root+"/studies", map[string]string{"Content-Type": "application/dicom"}, body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("STOW: %d %s", resp.StatusCode, b)
		}
	}

	_, in := attrs(t, mf)
	orig := framePixels(t, mf, in)
	fpath := root + "/studies/" + g.StudyUID(synth.Ref{}) + "/series/" + g.SeriesUID(synth.Ref{}) + "/instances/" + g.SOPInstanceUID(synth.Ref{}) + "/frames/3,1"
	code, h, body := d.get(fpath, "")
	if p := parts(t, h, body); code != 200 || len(p) != 2 || !bytes.Equal(p[0], orig[2]) || !bytes.Equal(p[1], orig[0]) {
		t.Fatalf("frames 3,1 uncompressed: %d, %d parts", code, len(parts(t, h, body)))
	}
	code, h, body = d.get(fpath, `multipart/related; type="image/jphc"`)
	if p := parts(t, h, body); code != 200 || len(p) != 2 || !strings.Contains(h.Get("Content-Type"), "image/jphc") || len(p[0]) == 0 {
		t.Fatalf("frames 3,1 stored: %d %s", code, h.Get("Content-Type"))
	}
	if code, _, _ := d.get(strings.Replace(fpath, "3,1", "4", 1), ""); code != 404 {
		t.Fatalf("frame 4 of 3: %d, want 404", code)
	}

	meta := root + "/studies/" + study + "/series/" + series + "/instances/" + sop + "/metadata"
	code, _, body = d.get(meta, "")
	var md []map[string]struct{ BulkDataURI, InlineBinary string }
	if err := json.Unmarshal(body, &md); code != 200 || err != nil || md[0]["00420011"].BulkDataURI == "" || md[0]["00420011"].InlineBinary != "" {
		t.Fatalf("metadata: %d %v %.300s", code, err, body)
	}
	uri := md[0]["00420011"].BulkDataURI
	code, _, got := d.get(strings.TrimPrefix(uri, ts.srv.URL), "")
	if code != 200 || !bytes.Equal(got, pdf) {
		t.Fatalf("bulk data %s: %d, %d bytes (want %d)", uri, code, len(got), len(pdf))
	}
	if code, _, _ := d.get(strings.TrimPrefix(uri, ts.srv.URL)+"9", ""); code != 404 {
		t.Fatalf("unknown bulk data path: %d, want 404", code)
	}
}

// TestDICOMwebStreamingDeclaration sends STOW-RS the way AWS's DICOMweb
// curl examples do: x-amz-content-sha256 declares a streaming payload
// while the body goes as is. DICOMweb accepts it (the signature covers the
// declaration), checks x-amz-decoded-content-length, and the SDK API
// still refuses streaming payloads.
func TestDICOMwebStreamingDeclaration(t *testing.T) {
	ts := startServer(t, t.TempDir())
	dsID := ts.createDatastore("dicomweb-streaming")
	g, err := synth.New(synth.Config{Rows: 8, Cols: 8, Seed: 23})
	if err != nil {
		t.Fatal(err)
	}
	body, err := g.Instance(synth.Ref{})
	if err != nil {
		t.Fatal(err)
	}
	send := func(path, decoded string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/dicom")
		req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
		req.Header.Set("X-Amz-Decoded-Content-Length", decoded)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret},
			req, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "medical-imaging", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("/datastore/"+dsID+"/studies", fmt.Sprint(len(body))); code != 200 {
		t.Fatalf("STOW-RS with a streaming declaration: %d", code)
	}
	if code := send("/datastore/"+dsID+"/studies", fmt.Sprint(len(body)+1)); code != 400 {
		t.Fatalf("wrong x-amz-decoded-content-length: %d, want 400", code)
	}
	if code := send("/datastore", fmt.Sprint(len(body))); code != 501 {
		t.Fatalf("SDK API with a streaming declaration: %d, want 501", code)
	}
}
