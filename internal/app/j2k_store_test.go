package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/synth"
)

// opjDecompress decodes a JPEG 2000 codestream with OpenJPEG's
// opj_decompress (libopenjp2-tools), leaving out reduce resolution levels,
// and returns the image laid out like the source pixel data: one component,
// bps bytes per sample, little endian. It skips the test when the tool is
// missing.
func opjDecompress(t *testing.T, cs []byte, bps, reduce int) (w, h int, data []byte) {
	t.Helper()
	tool, err := exec.LookPath("opj_decompress")
	if err != nil {
		t.Skip("opj_decompress not installed (Debian libopenjp2-tools; run scripts/setup.sh)")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.j2k"), filepath.Join(dir, "out.pgx")
	if err := os.WriteFile(in, cs, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, "-quiet", "-threads", "1", "-i", in, "-o", out, "-r", strconv.Itoa(reduce))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opj_decompress: %v\n%s", err, msg)
	}
	// opj_decompress names the PGX file of each component out_<n>.pgx.
	files, _ := filepath.Glob(filepath.Join(dir, "out*.pgx"))
	if len(files) != 1 {
		t.Fatalf("opj_decompress wrote %d PGX files, want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// PGX: "PG ML <sign><precision> <width> <height>\n", then big-endian
	// samples of 1, 2 or 4 bytes.
	line, err := bufio.NewReader(bytes.NewReader(raw)).ReadString('\n')
	if err != nil {
		t.Fatalf("PGX header: %v", err)
	}
	var sign string
	var prec int
	if _, err := fmt.Sscanf(line, "PG ML %1s%d %d %d", &sign, &prec, &w, &h); err != nil {
		t.Fatalf("PGX header %q: %v", line, err)
	}
	nb := map[bool]int{true: 1, false: 2}[prec <= 8]
	body := raw[len(line):]
	if len(body) != w*h*nb || nb > bps {
		t.Fatalf("PGX body of %d bytes for %dx%d samples of precision %d", len(body), w, h, prec)
	}
	data = make([]byte, w*h*bps)
	for i := range w * h {
		var v uint32
		if nb == 1 {
			v = uint32(body[i])
			if sign == "-" {
				v = uint32(int32(int8(body[i])))
			}
		} else {
			v = uint32(binary.BigEndian.Uint16(body[2*i:]))
			if sign == "-" {
				v = uint32(int32(int16(v)))
			}
		}
		for k := range bps {
			data[i*bps+k] = byte(v >> (8 * k))
		}
	}
	return w, h, data
}

// TestImportJPEG2000Store imports synthetic studies into a data store created
// with losslessStorageFormat JPEG_2000_LOSSLESS and checks that frames are
// stored as JPEG 2000 Lossless (StoredTransferSyntaxUID .90), served as
// image/j2c, decode with opj_decompress to the source pixels, and carry the
// CRC-32 of every resolution level as opj_decompress decodes it.
func TestImportJPEG2000Store(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	out, err := c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("j2k-store"),
		LosslessStorageFormat: types.LosslessStorageFormatJpeg2000Lossless})
	if err != nil {
		t.Fatal(err)
	}
	dsID := *out.DatastoreId
	waitFor(t, "data store ACTIVE", func() (bool, error) {
		g, err := c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &dsID})
		if err != nil {
			return false, err
		}
		return g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive, nil
	})

	// 16-bit unsigned and 8-bit signed studies; 200 columns need 2
	// decompositions to reach 64 pixels, 60x40 none.
	studies := []struct {
		cfg synth.Config
		bps int
	}{
		{synth.Config{Studies: 1, Series: 1, Instances: 2, Rows: 150, Cols: 200, Seed: 21}, 2},
		{synth.Config{Studies: 1, Series: 1, Instances: 1, Rows: 40, Cols: 60, Bits: 8, Signed: true, Seed: 22}, 1},
	}
	var gens []*synth.Generator
	for i, s := range studies {
		gens = append(gens, writeStudy(t, filepath.Join(ts.dataDir, "buckets", "dicom-in", "j2k", strconv.Itoa(i)), s.cfg))
	}
	props := ts.importDir(dsID, "dicom-in", "j2k/")
	if props.JobStatus != types.JobStatusCompleted {
		t.Fatalf("job = %s (%s), want COMPLETED", props.JobStatus, aws.ToString(props.Message))
	}

	frames := 0
	for i, s := range studies {
		g := gens[i]
		series := g.SeriesUID(synth.Ref{})
		res, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID, SearchCriteria: &types.SearchCriteria{
			Filters: []types.SearchFilter{{Operator: types.OperatorEqual, Values: []types.SearchByAttributeValue{
				&types.SearchByAttributeValueMemberDICOMSeriesInstanceUID{Value: series}}}}}})
		if err != nil || len(res.ImageSetsMetadataSummaries) != 1 {
			t.Fatalf("image set of study %d: %+v, %v", i, res, err)
		}
		setID := *res.ImageSetsMetadataSummaries[0].ImageSetId
		doc := imageSetMetadata(t, c, dsID, setID, "")
		rows, cols := s.cfg.Rows, s.cfg.Cols
		levels := 1 // resolution levels down to at most 64 pixels
		for n := max(rows, cols); n > 64; n = (n + 1) / 2 {
			levels++
		}
		for k := range s.cfg.Instances {
			ref := synth.Ref{Instance: k}
			inst, ok := doc.Study.Series[series].Instances[g.SOPInstanceUID(ref)]
			if !ok || len(inst.ImageFrames) != 1 {
				t.Fatalf("study %d instance %d missing or without frame", i, k)
			}
			if inst.StoredTransferSyntaxUID != "1.2.840.10008.1.2.4.90" {
				t.Fatalf("study %d instance %d stored as %q, want 1.2.840.10008.1.2.4.90", i, k, inst.StoredTransferSyntaxUID)
			}
			f := inst.ImageFrames[0]
			fr, err := c.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: &dsID, ImageSetId: &setID,
				ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &f.ID}})
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := io.ReadAll(fr.ImageFrameBlob)
			fr.ImageFrameBlob.Close()
			if ct := aws.ToString(fr.ContentType); ct != "image/j2c" || len(cs) != f.FrameSizeInBytes {
				t.Fatalf("frame: %d bytes (metadata says %d), Content-Type %s, want image/j2c", len(cs), f.FrameSizeInBytes, ct)
			}
			// A raw codestream (SOC, SIZ), not a JP2 file.
			if len(cs) < 4 || !bytes.Equal(cs[:4], []byte{0xFF, 0x4F, 0xFF, 0x51}) {
				t.Fatalf("frame does not start with SOC SIZ: % x", cs[:min(len(cs), 8)])
			}
			file, err := g.Instance(ref)
			if err != nil {
				t.Fatal(err)
			}
			// Native pixel data is the file's last element.
			pixels := file[len(file)-rows*cols*s.bps:]
			w, h, data := opjDecompress(t, cs, s.bps, 0)
			if w != cols || h != rows || !bytes.Equal(data, pixels) {
				t.Fatalf("study %d instance %d: opj_decompress gives %dx%d pixels that differ from the source", i, k, w, h)
			}
			sums := f.PixelDataChecksumFromBaseToFullResolution
			if len(sums) != levels {
				t.Fatalf("%d checksums, want %d levels: %+v", len(sums), levels, sums)
			}
			for j, sum := range sums {
				w, h, data := opjDecompress(t, cs, s.bps, levels-1-j)
				if sum.Width != w || sum.Height != h || sum.Checksum != crc32.ChecksumIEEE(data) {
					t.Fatalf("checksum %d: %+v, opj_decompress gives %dx%d %08x", j, sum, w, h, crc32.ChecksumIEEE(data))
				}
			}
			if last := sums[len(sums)-1]; last.Checksum != crc32.ChecksumIEEE(pixels) {
				t.Fatalf("full-resolution checksum %08x, CRC-32 of the source pixels %08x", last.Checksum, crc32.ChecksumIEEE(pixels))
			}
			lo, hi := int64(1<<62), int64(-1<<62)
			for j := 0; j < len(pixels); j += s.bps {
				v := int64(int8(pixels[j]))
				if s.bps == 2 {
					v = int64(binary.LittleEndian.Uint16(pixels[j:]))
				}
				lo, hi = min(lo, v), max(hi, v)
			}
			if f.MinPixelValue == nil || f.MaxPixelValue == nil || *f.MinPixelValue != lo || *f.MaxPixelValue != hi {
				t.Fatalf("pixel range %v..%v, want %d..%d", f.MinPixelValue, f.MaxPixelValue, lo, hi)
			}
			t.Logf("study %d instance %d: %dx%d, values %d..%d, %d resolution levels, %d bytes of JPEG 2000", i, k, cols, rows, lo, hi, levels, len(cs))
			frames++
		}
	}
	if frames != 3 {
		t.Fatalf("checked %d frames, want 3", frames)
	}
}
