package e2e

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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/synth"
)

// orthancDICOMwebPlugin is where Debian's orthanc-dicomweb installs the plugin.
const orthancDICOMwebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startOrthanc starts Orthanc with its DICOMweb plugin on a loopback port,
// storage in a temporary directory, and returns its DICOMweb root. It is
// killed when the test ends.
func startOrthanc(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("Orthanc")
	if err != nil {
		bin = "/usr/sbin/Orthanc"
	}
	if _, err := os.Stat(bin); err != nil {
		skipClient(t, "Orthanc is not installed (Debian orthanc, scripts/setup.sh)")
	}
	if _, err := os.Stat(orthancDICOMwebPlugin); err != nil {
		skipClient(t, "Orthanc's DICOMweb plugin is not installed (Debian orthanc-dicomweb, scripts/setup.sh)")
	}
	dir := t.TempDir()
	port := freePort(t)
	cfg := map[string]any{
		"Name": "ohi-peer", "StorageDirectory": dir, "IndexDirectory": dir, "HttpPort": port, "RemoteAccessAllowed": false,
		"AuthenticationEnabled": false, "DicomServerEnabled": false, "DicomPort": freePort(t), "SaveJobs": false,
		"Plugins": []string{orthancDICOMwebPlugin}, "DicomWeb": map[string]any{"Enable": true, "Root": "/dicom-web/"},
	}
	b, _ := json.Marshal(cfg)
	conf := filepath.Join(dir, "config.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "orthanc.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--logdir="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		log.Close()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(url + "/system"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url + "/dicom-web"
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "orthanc.log"))
			t.Fatalf("Orthanc exited:\n%s", tail(b, 20))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Orthanc did not start within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peer is one DICOMweb server of the comparison.
type peer struct {
	name, root string
	sign       bool
}

func (p peer) do(t *testing.T, method, path string, hdr map[string]string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.root+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if p.sign {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret},
			req, hex.EncodeToString(sum[:]), "medical-imaging", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

type dwElem struct {
	VR           string
	Value        []any
	InlineBinary string
	BulkDataURI  string
}

func (p peer) json(t *testing.T, path string) []map[string]dwElem {
	t.Helper()
	code, _, b := p.do(t, "GET", path, map[string]string{"Accept": "application/dicom+json"}, nil)
	if code != 200 {
		t.Fatalf("%s GET %s: %d %.300s", p.name, path, code, b)
	}
	var out []map[string]dwElem
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s GET %s: %v", p.name, path, err)
	}
	return out
}

func multiparts(t *testing.T, h http.Header, body []byte) [][]byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out [][]byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		out = append(out, b)
	}
}

// canon renders a DICOM JSON value comparably: numbers by value, person
// names by their alphabetic group, trailing spaces dropped.
func canon(e dwElem) string {
	var parts []string
	for _, v := range e.Value {
		switch x := v.(type) {
		case json.Number:
			f, _ := x.Float64()
			parts = append(parts, strconv.FormatFloat(f, 'g', -1, 64))
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && (e.VR == "DS" || e.VR == "IS") {
				parts = append(parts, strconv.FormatFloat(f, 'g', -1, 64))
			} else {
				parts = append(parts, strings.TrimRight(x, " "))
			}
		case map[string]any:
			if e.VR == "PN" {
				parts = append(parts, fmt.Sprint(x["Alphabetic"]))
			} else {
				parts = append(parts, "{item}")
			}
		default:
			parts = append(parts, fmt.Sprint(x))
		}
	}
	return e.VR + ":" + strings.Join(parts, `\`)
}

// TestDICOMwebOrthancPeer sends the same STOW-RS, QIDO-RS and WADO-RS
// requests to ohi and to Orthanc's DICOMweb plugin and compares what the
// standard makes comparable: stored instances, matched studies, series and
// instances with their attributes, instance metadata, uncompressed frames
// and the pixel data of retrieved instances.
func TestDICOMwebOrthancPeer(t *testing.T) {
	t.Parallel()
	orthanc := peer{name: "Orthanc", root: startOrthanc(t)}
	dir := t.TempDir()
	g := writeStudy(t, filepath.Join(dir, "peer"), synth.Config{Series: 2, Instances: 2, Rows: 20, Cols: 18, Seed: 51, PatientID: "PEER%04d"})
	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs})
	ds := createDatastore(t, newClient(srv.Endpoint, testAK, testSecret), "peer")
	ohi := peer{name: "ohi", root: srv.Endpoint + "/datastore/" + ds, sign: true}
	peers := []peer{ohi, orthanc}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	var sops []string
	for s := range 2 {
		for i := range 2 {
			r := synth.Ref{Series: s, Instance: i}
			b, err := os.ReadFile(filepath.Join(dir, "peer", filepath.FromSlash(g.Path(r))))
			if err != nil {
				t.Fatal(err)
			}
			pw, _ := mw.CreatePart(map[string][]string{"Content-Type": {"application/dicom"}})
			pw.Write(b)
			sops = append(sops, g.SOPInstanceUID(r))
		}
	}
	mw.Close()
	sort.Strings(sops)
	ct := `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
	for _, p := range peers {
		code, _, b := p.do(t, "POST", "/studies", map[string]string{"Content-Type": ct, "Accept": "application/dicom+json"}, body.Bytes())
		var resp map[string]json.RawMessage
		var refs struct{ Value []map[string]dwElem }
		err := json.Unmarshal(b, &resp)
		if err == nil {
			err = json.Unmarshal(resp["00081199"], &refs)
		}
		if code != 200 || err != nil {
			t.Fatalf("%s STOW: %d %v %.300s", p.name, code, err, b)
		}
		var got []string
		for _, it := range refs.Value {
			got = append(got, fmt.Sprint(it["00081155"].Value[0]))
		}
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(sops) {
			t.Fatalf("%s stored %v, want %v", p.name, got, sops)
		}
	}

	// QIDO-RS: the same matches with the same attributes.
	study := g.StudyUID(synth.Ref{})
	compareQuery := func(path string, key string, tags ...string) {
		t.Helper()
		res := map[string]map[string]string{}
		for _, p := range peers {
			rows := p.json(t, path)
			m := map[string]string{}
			for _, r := range rows {
				var vals []string
				for _, tg := range tags {
					vals = append(vals, tg+"="+canon(r[tg]))
				}
				m[canon(r[key])] = strings.Join(vals, " ")
			}
			res[p.name] = m
		}
		if fmt.Sprint(res["ohi"]) != fmt.Sprint(res["Orthanc"]) {
			t.Errorf("GET %s:\n  ohi     %v\n  Orthanc %v", path, res["ohi"], res["Orthanc"])
		}
		if len(res["ohi"]) == 0 {
			t.Errorf("GET %s matched nothing", path)
		}
	}
	compareQuery("/studies?PatientID=PEER0001", "0020000D", "00100020", "00100010", "00080020", "00201206", "00201208", "00080061")
	compareQuery("/studies?PatientID=PEER*", "0020000D", "00100020")
	compareQuery("/studies?StudyDate=19000101-29991231", "0020000D", "00100020")
	compareQuery("/studies/"+study+"/series", "0020000E", "00080060", "00200011", "00201209")
	compareQuery("/studies/"+study+"/series?Modality=CT", "0020000E", "00080060")
	compareQuery("/studies/"+study+"/series/"+g.SeriesUID(synth.Ref{})+"/instances", "00080018", "00080016", "00200013")

	// WADO-RS metadata: every attribute Orthanc gives, ohi gives alike.
	series := g.SeriesUID(synth.Ref{})
	sop := g.SOPInstanceUID(synth.Ref{})
	inst := "/studies/" + study + "/series/" + series + "/instances/" + sop
	om := orthanc.json(t, inst+"/metadata")[0]
	hm := ohi.json(t, inst+"/metadata")[0]
	compared := 0
	for tg, oe := range om {
		if strings.HasPrefix(tg, "0002") || strings.HasPrefix(tg, "7FE0") || oe.BulkDataURI != "" || oe.VR == "SQ" {
			continue
		}
		he, ok := hm[tg]
		if !ok {
			t.Errorf("metadata: ohi has no %s (Orthanc %s)", tg, canon(oe))
			continue
		}
		if canon(he) != canon(oe) || he.InlineBinary != oe.InlineBinary {
			t.Errorf("metadata %s: ohi %s, Orthanc %s", tg, canon(he), canon(oe))
		}
		compared++
	}
	t.Logf("instance metadata: %d attributes compared with Orthanc", compared)

	// Frames, uncompressed: the same bytes.
	var frames [][]byte
	for _, p := range peers {
		code, h, b := p.do(t, "GET", inst+"/frames/1", map[string]string{"Accept": `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1`}, nil)
		if code != 200 {
			t.Fatalf("%s frames: %d %.200s", p.name, code, b)
		}
		parts := multiparts(t, h, b)
		if len(parts) != 1 {
			t.Fatalf("%s frames: %d parts", p.name, len(parts))
		}
		frames = append(frames, parts[0])
	}
	if !bytes.Equal(frames[0], frames[1]) || len(frames[0]) != 20*18*2 {
		t.Errorf("uncompressed frame: ohi %d bytes, Orthanc %d bytes, equal %v", len(frames[0]), len(frames[1]), bytes.Equal(frames[0], frames[1]))
	}

	// The instance: the same pixel data and attributes.
	var files []map[string]any
	var pixels [][]byte
	for _, p := range peers {
		code, h, b := p.do(t, "GET", inst, map[string]string{"Accept": `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`}, nil)
		if code != 200 {
			t.Fatalf("%s instance: %d %.200s", p.name, code, b)
		}
		parts := multiparts(t, h, b)
		if len(parts) != 1 {
			t.Fatalf("%s instance: %d parts", p.name, len(parts))
		}
		in, err := dicom.Read(bytes.NewReader(parts[0]), int64(len(parts[0])), dicom.Options{})
		if err != nil {
			t.Fatalf("%s instance: %v", p.name, err)
		}
		m := map[string]any{}
		for _, l := range []map[string]any{in.Patient, in.Study, in.Series, in.Instance} {
			for k, v := range l {
				if !strings.HasPrefix(k, "FileMeta") && !strings.HasPrefix(k, "MediaStorage") && !strings.HasPrefix(k, "Implementation") &&
					k != "TransferSyntaxUID" && k != "SourceApplicationEntityTitle" {
					m[k] = v
				}
			}
		}
		files = append(files, m)
		px := make([]byte, in.Frames[0].Size())
		if _, err := io.ReadFull(in.Frames[0].Reader(bytes.NewReader(parts[0])), px); err != nil {
			t.Fatal(err)
		}
		pixels = append(pixels, px)
		in.Close()
	}
	if !bytes.Equal(pixels[0], pixels[1]) {
		t.Error("the retrieved instances' pixel data differ")
	}
	for k, v := range files[1] {
		if !sameValue(v, files[0][k]) {
			t.Errorf("instance %s: ohi %v, Orthanc %v", k, files[0][k], v)
		}
	}
	for k := range files[0] {
		if _, ok := files[1][k]; !ok {
			t.Errorf("instance: ohi has %s, Orthanc does not", k)
		}
	}
}

func sameValue(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
