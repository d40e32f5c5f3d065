package dicomweb

import "testing"

// TestNegotiateFrames checks Accept negotiation of frames over every listed
// range, with q values and transfer-syntax parameters.
func TestNegotiateFrames(t *testing.T) {
	htj2k := pixelInfo{storedTS: tsHTJ2KRPCL, originalTS: tsExplicitLE, img: pixelInfoOf0().img}
	jpeg := pixelInfo{storedTS: "1.2.840.10008.1.2.4.50", originalTS: "1.2.840.10008.1.2.4.50", img: pixelInfoOf0().img}
	for _, tc := range []struct {
		name   string
		px     pixelInfo
		accept string
		ts     string // "" : 406
	}{
		{"empty", htj2k, "", tsExplicitLE},
		{"ohif octet any", htj2k, `multipart/related; type="application/octet-stream"; transfer-syntax=*`, tsHTJ2KRPCL},
		{"unquoted star", htj2k, `multipart/related; type=application/octet-stream; transfer-syntax=*`, tsHTJ2KRPCL},
		{"first unproducible, second works", jpeg, `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1, multipart/related; type="image/jpeg"`, "1.2.840.10008.1.2.4.50"},
		{"ohif combined list", jpeg, `image/jphc;ts=4.202, image/jp2;ts=4.90, image/jpeg;ts=4.50, application/octet-stream;ts=1.2.1`, "1.2.840.10008.1.2.4.50"},
		{"q orders", htj2k, `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1; q=0.5, multipart/related; type="image/jphc"; q=0.9`, tsHTJ2KRPCL},
		{"q=0 refuses", htj2k, `multipart/related; type="image/jphc"; q=0`, ""},
		{"q=0 refuses, other works", htj2k, `multipart/related; type="image/jphc"; q=0, */*;q=0.1`, tsExplicitLE},
		{"json only", htj2k, `application/dicom+json`, ""},
		{"json then star", htj2k, `application/dicom+json, */*;q=0.8`, tsExplicitLE},
		{"wrong compressed type", htj2k, `multipart/related; type="image/jpeg"`, ""},
		{"unknown syntax", htj2k, `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.3`, ""},
		{"bad q skipped", htj2k, `multipart/related; type="image/jphc"; q=abc, multipart/related; type="application/octet-stream"`, tsExplicitLE},
		{"garbage is */*", htj2k, `;;;,`, tsExplicitLE},
		{"refused type not admitted by */*", htj2k, `application/octet-stream;q=0, */*`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts string
			_, ok := pick(negotiate(tc.accept, "application/octet-stream", tc.px.storedTS), func(c choice) bool {
				var ok bool
				ts, _, ok = tc.px.outputTS(c)
				return ok
			})
			if tc.ts == "" {
				if ok {
					t.Fatalf("Accept %q: got %s, want 406", tc.accept, ts)
				}
				return
			}
			if !ok || ts != tc.ts {
				t.Fatalf("Accept %q: got %q (ok %v), want %s", tc.accept, ts, ok, tc.ts)
			}
		})
	}
}

// TestNegotiateInstance checks Accept negotiation of a Part 10 instance.
func TestNegotiateInstance(t *testing.T) {
	px := pixelInfo{storedTS: tsHTJ2KRPCL, originalTS: tsExplicitLE, img: pixelInfoOf0().img}
	for _, tc := range []struct {
		accept    string
		multipart bool
		ts        string
	}{
		{`application/dicom`, false, tsExplicitLE},
		{`application/dicom; transfer-syntax=*`, false, tsHTJ2KRPCL},
		{`multipart/related; type="application/dicom"; transfer-syntax=*`, true, tsHTJ2KRPCL},
		{`application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50, multipart/related; type="application/dicom"`, true, tsExplicitLE},
		{`application/dicom;q=0.2, multipart/related; type="application/dicom"; transfer-syntax=*`, true, tsHTJ2KRPCL},
		{`application/dicom+json, multipart/related; type="application/octet-stream"`, false, ""},
		{`application/dicom;q=0, */*`, false, ""},
		{`application/dicom;q=0, multipart/related; type="application/dicom"`, true, tsExplicitLE},
		{`text/html, application/*;q=0.1`, false, tsExplicitLE},
	} {
		var ts string
		c, ok := pick(negotiate(tc.accept, mtDICOM, px.storedTS), func(c choice) bool {
			var ok bool
			ts, _, ok = px.outputTS(c)
			return ok
		})
		if tc.ts == "" {
			if ok {
				t.Errorf("Accept %q: got %s, want 406", tc.accept, ts)
			}
			continue
		}
		if !ok || ts != tc.ts || c.multipart != tc.multipart {
			t.Errorf("Accept %q: got %s multipart %v (ok %v), want %s multipart %v", tc.accept, ts, c.multipart, ok, tc.ts, tc.multipart)
		}
	}
}

// pixelInfoOf0 is a 16-bit grey image.
func pixelInfoOf0() pixelInfo {
	var p pixelInfo
	p.img.Rows, p.img.Columns, p.img.SamplesPerPixel, p.img.BitsAllocated, p.img.BitsStored = 4, 4, 1, 16, 16
	return p
}
