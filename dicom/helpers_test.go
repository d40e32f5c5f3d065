package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

const (
	testStudy  = "1.2.826.0.1.3680043.10.1452.9.1"
	testSeries = "1.2.826.0.1.3680043.10.1452.9.2"
	testSOP    = "1.2.826.0.1.3680043.10.1452.9.3"
	ctStorage  = "1.2.840.10008.5.1.4.1.1.2"
)

// baseDS returns the required attributes plus extra elements.
func baseDS(extra ...synth.Element) synth.DataSet {
	ds := synth.DataSet{
		{Tag: 0x00080016, VR: "UI", Value: ctStorage},
		{Tag: 0x00080018, VR: "UI", Value: testSOP},
		{Tag: 0x0020000D, VR: "UI", Value: testStudy},
		{Tag: 0x0020000E, VR: "UI", Value: testSeries},
	}
	// Later elements replace earlier ones with the same tag.
	for _, e := range extra {
		replaced := false
		for i := range ds {
			if ds[i].Tag == e.Tag {
				ds[i], replaced = e, true
			}
		}
		if !replaced {
			ds = append(ds, e)
		}
	}
	return ds
}

// without returns ds minus the element with tag t.
func without(ds synth.DataSet, t uint32) synth.DataSet {
	var out synth.DataSet
	for _, e := range ds {
		if e.Tag != t {
			out = append(out, e)
		}
	}
	return out
}

// p10 writes ds as a Part-10 file in ts.
func p10(t testing.TB, ds synth.DataSet, ts string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := synth.WriteP10(&b, ds, ctStorage, testSOP, ts, false); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// p10Raw returns the file meta of ts followed by the raw data set bytes.
func p10Raw(ts string, body []byte) []byte {
	return append(synth.FileMeta(ctStorage, testSOP, ts), body...)
}

// marshal encodes ds in explicit VR little endian.
func marshal(t testing.TB, ds synth.DataSet) []byte {
	t.Helper()
	b, err := synth.Marshal(ds, synth.Encoding{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readBytes(b []byte, opts Options) (*Instance, error) {
	return Read(bytes.NewReader(b), int64(len(b)), opts)
}

func mustRead(t testing.TB, b []byte) *Instance {
	t.Helper()
	in, err := readBytes(b, Options{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// wantCode asserts that err is a *FileError with the given code and, when
// substr is not empty, a reason containing it.
func wantCode(t testing.TB, err error, code, substr string) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want *FileError %s", err, err, code)
	}
	if fe.Code != code {
		t.Fatalf("code = %s (%q), want %s", fe.Code, fe.Reason, code)
	}
	if substr != "" && !bytes.Contains([]byte(fe.Reason), []byte(substr)) {
		t.Fatalf("reason %q does not contain %q", fe.Reason, substr)
	}
}

// frameBytes reads every frame of in.
func frameBytes(t testing.TB, in *Instance) [][]byte {
	t.Helper()
	var out [][]byte
	for i, f := range in.Frames {
		var b bytes.Buffer
		if _, err := b.ReadFrom(f.Reader(in.Source)); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// explicitHeader returns an explicit VR LE element header with a 32-bit length.
func explicitHeader(tag uint32, vr string, length uint32) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	b = append(b, vr...)
	if longVR(vr) {
		b = append(b, 0, 0)
		return binary.LittleEndian.AppendUint32(b, length)
	}
	return binary.LittleEndian.AppendUint16(b, uint16(length))
}

// itemHeader returns an item (or delimiter) header.
func itemHeader(tag uint32, length uint32) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	return binary.LittleEndian.AppendUint32(b, length)
}

// imageDS returns image pixel attributes for a native or encapsulated image.
func imageDS(rows, cols, bits, frames, samples int, photometric string) []synth.Element {
	return []synth.Element{
		{Tag: 0x00280002, VR: "US", Value: samples},
		{Tag: 0x00280004, VR: "CS", Value: photometric},
		{Tag: 0x00280008, VR: "IS", Value: frames},
		{Tag: 0x00280010, VR: "US", Value: rows},
		{Tag: 0x00280011, VR: "US", Value: cols},
		{Tag: 0x00280100, VR: "US", Value: bits},
		{Tag: 0x00280101, VR: "US", Value: bits},
		{Tag: 0x00280102, VR: "US", Value: bits - 1},
		{Tag: 0x00280103, VR: "US", Value: 0},
	}
}

// seq returns n bytes 0, 1, 2, ...
func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}
