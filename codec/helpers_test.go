package codec

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// opjDecode decodes cs with OpenJPEG's opj_decompress (libopenjp2-tools), a
// decoder independent of OpenJPH, into samples laid out like Pixels.Data
// with bps bytes per sample. It skips the test when the tool is missing.
func opjDecode(t testing.TB, cs []byte, bps int, args ...string) (w, h, comps int, data []byte) {
	t.Helper()
	tool, err := exec.LookPath("opj_decompress")
	if err != nil {
		t.Skip("opj_decompress not installed (Debian libopenjp2-tools; run scripts/setup.sh)")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.j2k")
	if err := os.WriteFile(in, cs, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.pgx")
	cmd := exec.Command(tool, append([]string{"-quiet", "-threads", "1", "-i", in, "-o", out}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opj_decompress: %v\n%s", err, msg)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "out*.pgx"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("opj_decompress wrote no PGX file")
	}
	var planes [][]int64
	for _, f := range files {
		pw, ph, vals := readPGX(t, f)
		if w != 0 && (pw != w || ph != h) {
			t.Fatalf("components differ in size")
		}
		w, h = pw, ph
		planes = append(planes, vals)
	}
	comps = len(planes)
	data = make([]byte, w*h*comps*bps)
	for c, vals := range planes {
		for i, v := range vals {
			putSample(data[(i*comps+c)*bps:], bps, v)
		}
	}
	return w, h, comps, data
}

func putSample(b []byte, bps int, v int64) {
	switch bps {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		binary.LittleEndian.PutUint32(b, uint32(v))
	}
}

// readPGX reads an OpenJPEG PGX file: "PG ML +|- prec w h\n" then big
// endian samples of 1, 2 or 4 bytes.
func readPGX(t testing.TB, name string) (w, h int, vals []int64) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(raw))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("PGX header: %v", err)
	}
	var sign string
	var prec int
	fields := bytes.Fields([]byte(line))
	// "PG ML + 12 512 512" or "PG ML +12 512 512"
	rest := bytes.Join(fields[2:], []byte(" "))
	if _, err := fmt.Sscanf(string(bytes.Replace(rest, []byte("+"), []byte("+ "), 1)), "+ %d %d %d", &prec, &w, &h); err == nil {
		sign = "+"
	} else if _, err := fmt.Sscanf(string(bytes.Replace(rest, []byte("-"), []byte("- "), 1)), "- %d %d %d", &prec, &w, &h); err == nil {
		sign = "-"
	} else {
		t.Fatalf("PGX header %q", line)
	}
	nb := 4
	if prec <= 8 {
		nb = 1
	} else if prec <= 16 {
		nb = 2
	}
	body := raw[len(line):]
	if len(body) != w*h*nb {
		t.Fatalf("PGX body %d bytes, want %d", len(body), w*h*nb)
	}
	vals = make([]int64, w*h)
	for i := range vals {
		var u uint64
		switch nb {
		case 1:
			u = uint64(body[i])
		case 2:
			u = uint64(binary.BigEndian.Uint16(body[2*i:]))
		default:
			u = uint64(binary.BigEndian.Uint32(body[4*i:]))
		}
		v := int64(u)
		if sign == "-" && u>>(8*nb-1) != 0 {
			v -= 1 << (8 * nb)
		}
		vals[i] = v
	}
	return w, h, vals
}

// checkTLM parses the main header of cs and checks that it has exactly one
// well-formed TLM segment whose tile-part lengths match the SOT segments.
func checkTLM(t testing.TB, cs []byte) {
	t.Helper()
	ms, err := parseMain(cs)
	if err != nil {
		t.Fatalf("main header: %v", err)
	}
	var tlm []marker
	for _, m := range ms {
		if m.code == 0xFF55 {
			tlm = append(tlm, m)
		}
	}
	if len(tlm) != 1 {
		t.Fatalf("%d TLM segments in the main header, want 1", len(tlm))
	}
	m := tlm[0]
	seg := cs[m.offset+2 : m.offset+2+m.length]
	if seg[2] != 0 || seg[3] != 0x60 || (m.length-4)%6 != 0 {
		t.Fatalf("TLM segment % x: want Ztlm 0, Stlm 0x60, 6-byte entries", seg)
	}
	// Walk the tile-parts independently of tileParts.
	pos := ms[len(ms)-1].offset
	for e := 4; e < m.length; e += 6 {
		ttlm, ptlm := binary.BigEndian.Uint16(seg[e:]), binary.BigEndian.Uint32(seg[e+2:])
		if binary.BigEndian.Uint16(cs[pos:]) != 0xFF90 {
			t.Fatalf("no SOT at %d", pos)
		}
		if isot, psot := binary.BigEndian.Uint16(cs[pos+4:]), binary.BigEndian.Uint32(cs[pos+6:]); isot != ttlm || psot != ptlm {
			t.Fatalf("TLM entry (%d, %d) != SOT (%d, %d)", ttlm, ptlm, isot, psot)
		}
		pos += int(ptlm)
	}
	if pos != len(cs)-2 || binary.BigEndian.Uint16(cs[pos:]) != 0xFFD9 {
		t.Fatalf("tile-parts end at %d, EOC expected at %d", pos, len(cs)-2)
	}
	var cod, siz bool
	for _, m := range ms {
		switch m.code {
		case 0xFF51:
			siz = true
		case 0xFF52:
			cod = true
			if order := cs[m.offset+5]; order != 2 { // Scod(1) then progression order: 2 = RPCL
				t.Fatalf("progression order %d, want RPCL (2)", order)
			}
			if rev := cs[m.offset+13]; rev != 1 { // then layers(2) MCT(1) levels(1) xcb(1) ycb(1) style(1) transform(1)
				t.Fatalf("wavelet %d, want reversible 5/3 (1)", rev)
			}
		}
	}
	if !cod || !siz {
		t.Fatal("main header lacks SIZ or COD")
	}
}

// roundTrip encodes p, decodes it with OpenJPEG and OpenJPH and checks that
// both give p.Data back, that the full-resolution checksum is the CRC-32 of
// p.Data and that the TLM segment is well formed.
func roundTrip(t testing.TB, p *Pixels) []byte {
	t.Helper()
	cs, err := EncodeHTJ2K(p)
	if err != nil {
		t.Fatalf("EncodeHTJ2K: %v", err)
	}
	checkTLM(t, cs)
	w, h, comps, data := opjDecode(t, cs, p.BytesPerSample)
	if w != p.Width || h != p.Height || comps != p.Components {
		t.Fatalf("opj_decompress: %dx%dx%d, want %dx%dx%d", w, h, comps, p.Width, p.Height, p.Components)
	}
	if !bytes.Equal(data, p.Data) {
		t.Fatalf("opj_decompress output differs from the original pixels (first difference at byte %d)", firstDiff(data, p.Data))
	}
	q, err := DecodeHTJ2K(cs, 0)
	if err != nil {
		t.Fatalf("DecodeHTJ2K: %v", err)
	}
	if q.BytesPerSample != p.BytesPerSample || !bytes.Equal(q.Data, p.Data) {
		t.Fatalf("DecodeHTJ2K output differs from the original pixels")
	}
	sums, err := Checksums(cs)
	if err != nil {
		t.Fatalf("Checksums: %v", err)
	}
	last := sums[len(sums)-1]
	if last.Width != p.Width || last.Height != p.Height || last.Checksum != crc32.ChecksumIEEE(p.Data) {
		t.Fatalf("full-resolution checksum %+v, want %dx%d %08x", last, p.Width, p.Height, crc32.ChecksumIEEE(p.Data))
	}
	if first := sums[0]; max(first.Width, first.Height) > 64 {
		t.Fatalf("lowest resolution %dx%d is above 64 pixels", first.Width, first.Height)
	}
	return cs
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
