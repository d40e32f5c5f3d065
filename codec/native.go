package codec

// decodeNative extracts a native (uncompressed) frame: bit-packed 1-bit
// frames are unpacked to one byte per pixel, big endian samples are swapped,
// planar configuration 1 is interleaved and YBR_FULL_422 is expanded to
// YBR_FULL.
func decodeNative(frame []byte, img Image, bigEndian bool) (*Pixels, error) {
	p := img.newPixels()
	pixels := img.Rows * img.Columns
	if img.BitsAllocated == 1 {
		if img.BitOffset < 0 || img.BitOffset > 7 {
			return nil, corruptf("bit offset %d is not within a byte", img.BitOffset)
		}
		if need := (int64(pixels) + int64(img.BitOffset) + 7) / 8; int64(len(frame)) < need {
			return nil, corruptf("native frame has %d bytes, %d needed", len(frame), need)
		}
		p.Data = make([]byte, pixels)
		for i := range p.Data {
			b := i + img.BitOffset
			p.Data[i] = frame[b>>3] >> (b & 7) & 1
		}
		return p, nil
	}
	bps := p.BytesPerSample
	switch img.photometric() {
	case "YBR_FULL_422":
		return decodeYBR422(frame, img, p)
	case "YBR_PARTIAL_422", "YBR_PARTIAL_420":
		return nil, unsupportedf("native %s is not supported", img.photometric())
	}
	n := pixels * img.SamplesPerPixel * bps
	if len(frame) < n {
		return nil, corruptf("native frame has %d bytes, %d needed", len(frame), n)
	}
	if !bigEndian && !(img.SamplesPerPixel == 3 && img.PlanarConfiguration == 1) {
		// The samples are already in the layout of Pixels.Data: use them
		// where they are rather than copying a whole frame.
		p.Data = frame[:n:n]
		return p, nil
	}
	p.Data = make([]byte, n)
	if img.SamplesPerPixel == 3 && img.PlanarConfiguration == 1 {
		plane := pixels * bps
		for c := 0; c < 3; c++ {
			src := frame[c*plane : (c+1)*plane]
			for i := 0; i < pixels; i++ {
				copy(p.Data[(i*3+c)*bps:(i*3+c+1)*bps], src[i*bps:(i+1)*bps])
			}
		}
	} else {
		copy(p.Data, frame[:n])
	}
	if bigEndian {
		swap(p.Data, bps)
	}
	return p, nil
}

// swap reverses the bytes of every bps-byte sample of b in place.
func swap(b []byte, bps int) {
	switch bps {
	case 2:
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	case 4:
		for i := 0; i+3 < len(b); i += 4 {
			b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
		}
	}
}

// decodeYBR422 expands native YBR_FULL_422 (Y1 Y2 Cb Cr for every two
// pixels of a row, PS3.3 C.7.6.3.1.2) to interleaved YBR_FULL by giving both
// pixels of a pair the pair's chroma.
func decodeYBR422(frame []byte, img Image, p *Pixels) (*Pixels, error) {
	if img.SamplesPerPixel != 3 || img.BitsAllocated != 8 || img.Columns%2 != 0 {
		return nil, unsupportedf("YBR_FULL_422 needs 3 samples of 8 bits and an even number of columns")
	}
	n := img.Rows * img.Columns * 2
	if len(frame) < n {
		return nil, corruptf("native frame has %d bytes, %d needed", len(frame), n)
	}
	p.Data = make([]byte, img.Rows*img.Columns*3)
	p.Photometric = "YBR_FULL"
	for i, o := 0, 0; i+3 < n; i, o = i+4, o+6 {
		y1, y2, cb, cr := frame[i], frame[i+1], frame[i+2], frame[i+3]
		p.Data[o], p.Data[o+1], p.Data[o+2] = y1, cb, cr
		p.Data[o+3], p.Data[o+4], p.Data[o+5] = y2, cb, cr
	}
	return p, nil
}
