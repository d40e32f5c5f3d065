// C interface of the OpenJPH shim (ojph_shim.cpp). Every function catches
// all C++ exceptions and reports failures through its return value and err.
#ifndef OHI_OJPH_SHIM_H
#define OHI_OJPH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Status codes returned by the shim functions.
enum { OHI_OK = 0, OHI_CORRUPT = 1, OHI_UNSUPPORTED = 2, OHI_NOMEM = 3, OHI_MISMATCH = 4 };

// ohi_ht_header is the part of an HTJ2K main header the Go side validates
// before allocating the output of a decode.
typedef struct {
	uint32_t width, height;     // reconstructed size at full resolution
	uint32_t components;
	uint32_t precision;         // of component 0
	int32_t is_signed;          // of component 0
	int32_t uniform;            // 1 if every component has the same size, precision and sign
	uint32_t decompositions;
	int32_t reversible;
} ohi_ht_header;

// ohi_ht_encode encodes w*h*comps interleaved little-endian samples of bps
// bytes (1, 2 or 4) at the given precision as a lossless HTJ2K codestream
// (reversible 5/3, RPCL, no colour transform). On success *out is a
// malloc'ed buffer of *out_len bytes that the caller frees.
int ohi_ht_encode(const uint8_t *px, uint32_t w, uint32_t h, uint32_t comps,
                  uint32_t bps, uint32_t precision, int is_signed,
                  uint32_t decompositions, uint8_t **out, size_t *out_len,
                  char *err, size_t errlen);

// ohi_ht_read_header parses the main header of cs.
int ohi_ht_read_header(const uint8_t *cs, size_t len, ohi_ht_header *hdr,
                       char *err, size_t errlen);

// ohi_ht_decode decodes cs skipping the skip highest resolution levels into
// out: interleaved little-endian samples of bps bytes, clamped to the
// codestream precision. It fails unless the reduced image is exactly
// w x h x comps, so that out (out_len bytes) cannot overflow.
int ohi_ht_decode(const uint8_t *cs, size_t len, uint32_t skip, uint32_t w,
                  uint32_t h, uint32_t comps, uint32_t bps, uint8_t *out,
                  size_t out_len, char *err, size_t errlen);

// ohi_ht_verify decodes cs at full resolution like ohi_ht_decode, but
// compares the samples with want (want_len bytes, the layout ohi_ht_decode
// writes) instead of storing them: OHI_OK when every sample is equal,
// OHI_MISMATCH at the first that is not. want is not modified.
int ohi_ht_verify(const uint8_t *cs, size_t len, uint32_t w, uint32_t h,
                  uint32_t comps, uint32_t bps, const uint8_t *want,
                  size_t want_len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
