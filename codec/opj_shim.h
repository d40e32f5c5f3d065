// C interface of the OpenJPEG shim (opj_shim.c): in-memory JPEG 2000 Part 1
// encoding and decoding. OpenJPEG's messages never reach stderr: they are
// collected and returned through err.
#ifndef OHI_OPJ_SHIM_H
#define OHI_OPJ_SHIM_H

#include <stddef.h>
#include <stdint.h>

// Status codes returned by the shim functions.
enum { OHI_J2K_OK = 0, OHI_J2K_CORRUPT = 1, OHI_J2K_UNSUPPORTED = 2, OHI_J2K_NOMEM = 3 };

// ohi_j2k_header is the part of a JPEG 2000 main header the Go side
// validates before it allocates the output of a decode.
typedef struct {
	uint32_t x0, y0, x1, y1;    // image area on the reference grid
	uint32_t components;
	uint32_t precision;         // of component 0
	int32_t is_signed;          // of component 0
	int32_t uniform;            // 1 if every component has the same precision and sign and no subsampling
	uint32_t tiles;             // number of tiles
	uint32_t decompositions;    // of the default coding style, the least over the components
	int32_t reversible;         // 1 if every component uses the 5/3 wavelet
} ohi_j2k_header;

// ohi_j2k_encode encodes w*h*comps interleaved little-endian samples of bps
// bytes (1, 2 or 4; two's complement when is_signed) at the given precision
// as a lossless JPEG 2000 codestream: reversible 5/3 wavelet, decompositions
// levels, RPCL progression, 64x64 code blocks, one tile split into one
// tile-part per resolution, a TLM segment and no colour transform. On
// success *out is a malloc'ed buffer of *out_len bytes (at most max_out)
// that the caller frees.
int ohi_j2k_encode(const uint8_t *px, uint32_t w, uint32_t h, uint32_t comps,
                   uint32_t bps, uint32_t precision, int is_signed,
                   uint32_t decompositions, size_t max_out, uint8_t **out,
                   size_t *out_len, char *err, size_t errlen);

// ohi_j2k_read_header parses the main header of the codestream cs.
int ohi_j2k_read_header(const uint8_t *cs, size_t len, ohi_j2k_header *hdr,
                        char *err, size_t errlen);

// ohi_j2k_decode decodes cs leaving out the reduce highest resolution levels
// into out: interleaved little-endian samples of bps bytes, as OpenJPEG
// reconstructs them (clamped to the codestream precision). It fails unless
// the decoded image is exactly w x h x comps, so that out (out_len bytes)
// cannot overflow.
int ohi_j2k_decode(const uint8_t *cs, size_t len, uint32_t reduce, uint32_t w,
                   uint32_t h, uint32_t comps, uint32_t bps, uint8_t *out,
                   size_t out_len, char *err, size_t errlen);

#endif
