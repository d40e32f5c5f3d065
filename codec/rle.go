package codec

import "encoding/binary"

// decodeRLE decodes one RLE Lossless frame (PS3.5 Annex G): a 64-byte header
// with the number of segments and up to 15 segment offsets, then one
// PackBits-coded segment per byte plane, most significant byte of each
// sample first, samples in order. The output is interleaved whatever the
// Planar Configuration attribute says (RLE planes are always separate).
func decodeRLE(frame []byte, img Image) (*Pixels, error) {
	if img.BitsAllocated == 1 {
		return nil, unsupportedf("RLE Lossless with BitsAllocated 1 is not supported")
	}
	p := img.newPixels()
	bps := p.BytesPerSample
	spp := img.SamplesPerPixel
	nseg := spp * bps
	pixels := img.Rows * img.Columns
	if len(frame) < 64 {
		return nil, corruptf("RLE frame of %d bytes has no 64-byte header", len(frame))
	}
	if got := binary.LittleEndian.Uint32(frame); got != uint32(nseg) {
		return nil, corruptf("RLE header declares %d segments, %d expected", got, nseg)
	}
	// PackBits expands 2 bytes into at most 128, so the declared image must
	// fit in 64 times the frame size: checked before allocating.
	if int64(pixels)*int64(nseg) > 64*int64(len(frame)) {
		return nil, corruptf("RLE frame of %d bytes cannot hold %d segments of %d bytes", len(frame), nseg, pixels)
	}
	var offs [16]int
	for i := 0; i < nseg; i++ {
		o := binary.LittleEndian.Uint32(frame[4+4*i:])
		if o < 64 || int64(o) > int64(len(frame)) || (i > 0 && int(o) < offs[i-1]) {
			return nil, corruptf("RLE segment %d offset %d is out of order or outside the frame", i, o)
		}
		offs[i] = int(o)
	}
	offs[nseg] = len(frame)
	p.Data = make([]byte, pixels*spp*bps)
	plane := make([]byte, pixels)
	for s := 0; s < nseg; s++ {
		if err := unpackBits(plane, frame[offs[s]:offs[s+1]]); err != nil {
			return nil, corruptf("RLE segment %d: %v", s, err)
		}
		sample, byteIdx := s/bps, bps-1-s%bps // segments are MSB first; Data is little endian
		stride := spp * bps
		out := p.Data[sample*bps+byteIdx:]
		for i, b := range plane {
			out[i*stride] = b
		}
	}
	return p, nil
}

type rleError string

func (e rleError) Error() string { return string(e) }

// unpackBits fills dst from the PackBits data src. A final run that goes
// past the end of dst is cut (some encoders pad rows); data left over after
// dst is full is ignored (segments are padded to an even length).
func unpackBits(dst, src []byte) error {
	o, i := 0, 0
	for o < len(dst) {
		if i >= len(src) {
			return rleError("segment ends before the plane is complete")
		}
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0:
			n++
			if i+n > len(src) {
				return rleError("literal run goes past the end of the segment")
			}
			o += copy(dst[o:], src[i:i+n])
			i += n
		case n != -128:
			if i >= len(src) {
				return rleError("replicate run goes past the end of the segment")
			}
			b := src[i]
			i++
			end := min(o+1-n, len(dst))
			for ; o < end; o++ {
				dst[o] = b
			}
		}
	}
	return nil
}
