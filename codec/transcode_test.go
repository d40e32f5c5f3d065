package codec

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"
)

// TestTranscodeVerifies checks that the verifying decode of Transcode
// rejects pixels that differ from the codestream in a single sample, in
// the first, a middle and the last position, and a damaged codestream.
func TestTranscodeVerifies(t *testing.T) {
	p := lowResCase(130, 67, 1, 2, false, 0, 4095, 9)
	st, err := Transcode(p, FormatHTJ2K)
	if err != nil {
		t.Fatal(err)
	}
	if st.TransferSyntax != StoredTransferSyntax {
		t.Fatalf("transfer syntax %s", st.TransferSyntax)
	}
	if last := st.Checksums[len(st.Checksums)-1]; last.Checksum != crc32.ChecksumIEEE(p.Data) || last.Width != 130 || last.Height != 67 {
		t.Fatalf("full-resolution checksum %+v", last)
	}
	if lo, hi := MinMax(p); st.Min != lo || st.Max != hi {
		t.Fatalf("range %d..%d, want %d..%d", st.Min, st.Max, lo, hi)
	}
	hdr, err := htHeader(st.Codestream)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyHT(st.Codestream, hdr, p); err != nil {
		t.Fatalf("verifyHT of the pixels it was encoded from: %v", err)
	}
	for _, at := range []int{0, len(p.Data) / 2, len(p.Data) - 1} {
		q := *p
		q.Data = bytes.Clone(p.Data)
		q.Data[at] ^= 1
		if err := verifyHT(st.Codestream, hdr, &q); !errors.Is(err, ErrVerify) {
			t.Fatalf("byte %d changed: verifyHT = %v, want ErrVerify", at, err)
		}
	}
	bad := bytes.Clone(st.Codestream)
	for i := len(bad) / 2; i < len(bad)/2+16; i++ {
		bad[i] ^= 0x5a
	}
	if err := verifyHT(bad, hdr, p); err == nil {
		t.Fatal("a damaged codestream verified")
	}
}
