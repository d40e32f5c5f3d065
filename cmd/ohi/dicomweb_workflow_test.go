package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/arazzo/runner"
)

// asciiInstance returns a small DICOM Part 10 file (a Basic Text SR
// instance without content) every byte of which is below 0x80, so that it
// passes unchanged through a JSON string input of a workflow.
func asciiInstance(t *testing.T, study, series, sop, patientID string) []byte {
	t.Helper()
	elem := func(b *bytes.Buffer, group, element uint16, vr, value string) {
		if len(value)%2 == 1 {
			if vr == "UI" {
				value += "\x00"
			} else {
				value += " "
			}
		}
		_ = binary.Write(b, binary.LittleEndian, [2]uint16{group, element})
		b.WriteString(vr)
		_ = binary.Write(b, binary.LittleEndian, uint16(len(value)))
		b.WriteString(value)
	}
	const sopClass = "1.2.840.10008.5.1.4.1.1.88.11"
	var meta bytes.Buffer
	meta.Write([]byte{0x02, 0x00, 0x01, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0, 1})
	elem(&meta, 2, 2, "UI", sopClass)
	elem(&meta, 2, 3, "UI", sop)
	elem(&meta, 2, 0x10, "UI", "1.2.840.10008.1.2.1")
	var f bytes.Buffer
	f.Write(make([]byte, 128))
	f.WriteString("DICM")
	f.Write([]byte{0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0})
	_ = binary.Write(&f, binary.LittleEndian, uint32(meta.Len()))
	f.Write(meta.Bytes())
	elem(&f, 8, 0x16, "UI", sopClass)
	elem(&f, 8, 0x18, "UI", sop)
	elem(&f, 8, 0x20, "DA", "20260102")
	elem(&f, 8, 0x60, "CS", "SR")
	elem(&f, 0x10, 0x10, "PN", "Workflow^Arazzo")
	elem(&f, 0x10, 0x20, "LO", patientID)
	elem(&f, 0x20, 0x0D, "UI", study)
	elem(&f, 0x20, 0x0E, "UI", series)
	elem(&f, 0x20, 0x11, "IS", "7")
	elem(&f, 0x20, 0x13, "IS", "1")
	for _, c := range f.Bytes() {
		if c >= 0x80 {
			t.Fatalf("byte %#x is not ASCII", c)
		}
	}
	return f.Bytes()
}

// TestDICOMwebWorkflow runs the example workflow (STOW-RS, QIDO-RS,
// WADO-RS) through `ohi workflow run`, SigV4-signed, against the real
// server, with the OpenAPI description generated from the DICOMweb route
// table.
func TestDICOMwebWorkflow(t *testing.T) {
	hi := startHI(t)
	setAWSEnv(t, wfSecret)
	ctx := context.Background()
	ds, err := hi.client.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("dicomweb-wf")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		g, err := hi.client.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: ds.DatastoreId})
		if err != nil {
			t.Fatal(err)
		}
		if g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("data store not ACTIVE")
		}
		time.Sleep(20 * time.Millisecond)
	}
	study, series, sop := "1.2.826.0.1.3680043.10.1543.7.1", "1.2.826.0.1.3680043.10.1543.7.1.1", "1.2.826.0.1.3680043.10.1543.7.1.1.1"
	inputs, err := json.Marshal(map[string]string{"datastoreId": *ds.DatastoreId, "instance": string(asciiInstance(t, study, series, sop, "WF0001")),
		"studyInstanceUID": study, "seriesInstanceUID": series, "sopInstanceUID": sop, "patientId": "WF0001"})
	if err != nil {
		t.Fatal(err)
	}
	inFile := filepath.Join(t.TempDir(), "inputs.json")
	if err := os.WriteFile(inFile, inputs, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runWorkflowCLI(t, "workflow", "run", filepath.Join("..", "..", "dicomweb", "examples", "stow-qido-wado.arazzo.yaml"),
		"--server", "dicomweb="+hi.url, "--inputs", inFile, "--output", "json", "--timeout", "30s")
	res := decodeResult(t, r)
	if r.code != 0 || res.Status != runner.StatusSucceeded {
		t.Fatalf("exit %d, status %s, error %v%s\nstderr: %s", r.code, res.Status, res.Error, steps(res), r.stderr)
	}
	if got := res.Outputs["storedTransferSyntax"]; got != "1.2.840.10008.1.2.1" {
		t.Errorf("storedTransferSyntax = %v", got)
	}
	if got, _ := res.Outputs["contentType"].(string); !strings.HasPrefix(got, "application/dicom") {
		t.Errorf("contentType = %v", got)
	}
	if got, _ := res.Outputs["retrieveURL"].(string); !strings.HasSuffix(got, "/instances/"+sop) {
		t.Errorf("retrieveURL = %v", got)
	}
	if n := res.Outputs["numberOfInstances"]; n != float64(1) && n != json.Number("1") && n != int64(1) {
		t.Errorf("numberOfInstances = %v (%T)", n, n)
	}
}
